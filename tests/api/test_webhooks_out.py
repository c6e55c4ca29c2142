"""Outgoing webhooks: Pro and up, safe targets only, signed like Stripe's, sent by the Dagster
sensor after a sync, a failing receiver retried with growing backoff."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from dagster import build_sensor_context
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import create_app
from assets.webhooks import outgoing_webhooks
from resources.webhook_sender import WebhookSender
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.conftest import FERNET_KEY, Seller, add_member, make_settings, register
from warehouse.app_db import engine_for, session_factory
from warehouse.sync_runs import record_finished_run
from warehouse.webhooks import enqueue_low_stock


class Receiver:
    """A seller's endpoint: checks `Stock-Tracker-Signature` with the secret it was given."""

    def __init__(self) -> None:
        self.secret = ""
        self.answers: list[int] = []
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                parts = dict(p.split("=", 1) for p in self.headers["Stock-Tracker-Signature"].split(","))
                expected = hmac.new(
                    receiver.secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256
                ).hexdigest()
                fresh = abs(time.time() - int(parts["t"])) < 300
                if not (hmac.compare_digest(expected, parts["v1"]) and fresh):
                    receiver.bad_signatures += 1
                status = receiver.answers.pop(0) if receiver.answers else 200
                if status == 200:
                    receiver.events.append(orjson.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stock-hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def _pro(app_db: str, seller: Seller) -> None:
    with engine_for(app_db).begin() as connection:
        connection.execute(text("update tenants set tier = 'pro' where id = :id"), {"id": seller.tenant_id})


def _send_due(app_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """One tick of the Dagster sensor that sends webhooks."""
    monkeypatch.setenv("STOCK_TRACKER_TEST_WEBHOOK_KEYS", FERNET_KEY)
    sender = WebhookSender(app_database_url=app_db, keys_env="STOCK_TRACKER_TEST_WEBHOOK_KEYS")
    result = outgoing_webhooks(build_sensor_context(resources={"webhooks": sender}))
    return str(result.skip_message)


def _finish_sync(app_db: str, seller: Seller, run_id: str) -> None:
    """A sync of the tenant ends, recorded as the run-status sensor records it."""
    now = datetime.now(UTC)
    with session_factory(app_db)() as session:
        record_finished_run(session, run_id, seller.tenant_id, "schedule", "pro", "success", now, now)


def test_starter_cannot_add_webhooks_and_viewers_cannot_change_them(client: TestClient, app_db: str) -> None:
    seller = register(client)
    refused = client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.com/x"},
        headers={**seller.auth, "Accept-Language": "en"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "webhooks_not_in_plan"
    assert "Pro" in refused.json()["error"]["message"]
    _pro(app_db, seller)
    viewer = add_member(client, seller, "viewer")
    assert (
        client.post(
            "/api/v1/webhooks", json={"url": "https://hooks.example.com/x"}, headers=viewer.auth
        ).status_code
        == 403
    )


def test_production_refuses_private_loopback_link_local_and_plain_http(
    tmp_path: Path, app_db: str, sandbox: SandboxServer
) -> None:
    settings: Settings = make_settings(tmp_path, app_db, sandbox, environment="production")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        seller = register(client)
        _pro(app_db, seller)
        for url in (
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://192.168.0.10/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://localhost/hook",
            "http://93.184.216.34/hook",
        ):
            answer = client.post("/api/v1/webhooks", json={"url": url}, headers=seller.auth)
            assert answer.status_code == 422, url
            assert answer.json()["error"]["code"] == "webhook_url_refused"
        assert client.get("/api/v1/webhooks", headers=seller.auth).json() == []


def test_signed_delivery_after_a_sync_with_backoff_on_500(
    client: TestClient, app_db: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = register(client)
    _pro(app_db, seller)
    created = client.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["sync.completed"]}, headers=seller.auth
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    receiver.secret = endpoint["secret"]
    listed = client.get("/api/v1/webhooks", headers=seller.auth).json()
    assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]

    run_id = f"run-{seller.tenant_id}"
    _finish_sync(app_db, seller, run_id)
    _finish_sync(app_db, seller, run_id)  # the same run seen twice: one event
    receiver.answers = [500, 500]
    deliveries_url = f"/api/v1/webhooks/{endpoint['id']}/deliveries"

    gaps = []
    for _ in range(2):
        _send_due(app_db, monkeypatch)
        (delivery,) = client.get(deliveries_url, headers=seller.auth).json()
        assert delivery["status"] == "pending" and delivery["last_status_code"] == 500
        gaps.append(datetime.fromisoformat(delivery["next_attempt_at"]) - datetime.now(UTC))
        assert _send_due(app_db, monkeypatch) == "0 delivered, 0 to retry or failed"  # not due yet
        assert len(receiver.events) == 0
        with engine_for(app_db).begin() as connection:  # the backoff passes
            connection.execute(
                text("update webhook_deliveries set next_attempt_at = now() where id = :id"),
                {"id": delivery["id"]},
            )
    assert timedelta(seconds=20) < gaps[0] <= timedelta(seconds=30)
    assert timedelta(seconds=50) < gaps[1] <= timedelta(seconds=60)

    _send_due(app_db, monkeypatch)
    (delivery,) = client.get(deliveries_url, headers=seller.auth).json()
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 3, 200)
    (event,) = receiver.events
    assert event["type"] == "sync.completed" and event["tenant"] == seller.tenant_id
    assert event["data"]["run_id"] == run_id and event["id"] and event["created"]
    assert receiver.bad_signatures == 0

    test = client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=seller.auth)
    assert test.status_code == 202 and test.json()["event_type"] == "webhook.test"
    _send_due(app_db, monkeypatch)
    assert [e["type"] for e in receiver.events] == ["sync.completed", "webhook.test"]


def test_an_endpoint_that_keeps_failing_is_disabled(
    client: TestClient, app_db: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = register(client)
    _pro(app_db, seller)
    endpoint = client.post("/api/v1/webhooks", json={"url": receiver.url}, headers=seller.auth).json()
    receiver.secret = endpoint["secret"]
    receiver.answers = [503] * 20
    for i in range(15):
        _finish_sync(app_db, seller, f"run-{seller.tenant_id}-{i}")
    _send_due(app_db, monkeypatch)
    (state,) = client.get("/api/v1/webhooks", headers=seller.auth).json()
    assert state["enabled"] is False and "15 failed attempts" in state["disabled_reason"]
    again = client.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"enabled": True}, headers=seller.auth)
    assert again.status_code == 200 and again.json()["enabled"] is True
    assert client.delete(f"/api/v1/webhooks/{endpoint['id']}", headers=seller.auth).status_code == 204
    assert client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries", headers=seller.auth).status_code == 404


def test_stock_low_reaches_only_endpoints_that_want_it(
    client: TestClient, app_db: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = register(client)
    _pro(app_db, seller)
    wants = client.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["stock.low"]}, headers=seller.auth
    )
    receiver.secret = wants.json()["secret"]
    client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url + "/sync", "events": ["sync.failed"]},
        headers=seller.auth,
    )
    low = [
        {"marketplace": "wildberries", "product_id": i, "article": f"A-{i}", "warehouse_name": "Коледино",
         "stock": i, "days_of_cover": float(i)}
        for i in range(60, 0, -1)
    ]  # fmt: skip
    with session_factory(app_db)() as session:
        assert enqueue_low_stock(session, seller.tenant_id, "run-low", low, 14) == 1
    assert _send_due(app_db, monkeypatch) == "1 delivered, 0 to retry or failed"
    (event,) = receiver.events
    assert event["type"] == "stock.low" and event["data"]["count"] == 60
    assert [i["days_of_cover"] for i in event["data"]["items"]][:3] == [1.0, 2.0, 3.0]
    assert len(event["data"]["items"]) == 50 and receiver.bad_signatures == 0

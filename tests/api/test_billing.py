"""Billing end to end: stripe-python against the Stripe sandbox, its signed webhooks delivered over
real HTTP to the API served by uvicorn, real PostgreSQL; plan limits at their boundaries."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import requests
import uvicorn
from dagster import build_schedule_context, instance_for_test
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.dagster_client import DagsterClient
from api.errors import ApiError
from api.main import create_app
from api.plan_limits import ManualSyncVerdict, manual_sync_verdict
from api.principal_cache import MAX_SECONDS
from api.quota import redis_key
from api.sync_control import start_manual_sync
from assets.partitions import tenant_partitions
from definitions import build_definitions
from resources.stripe_billing import StripeBilling
from sandbox.scenario import Scenario
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.conftest import Row, Seller, add_member, make_settings, register, seed_stock
from warehouse.app_db import engine_for, session_factory
from warehouse.billing import blocked_tenants
from warehouse.models import SyncRun, Tenant

PRO_CARD, FAILING_CARD = "4242424242424242", "4000000000000341"


class ServedApi:
    """The API on a loopback port (uvicorn in a thread), where the sandbox forwards Stripe's events."""

    def __init__(self, settings: Settings) -> None:
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def billing_settings(tmp_path: Path, app_db: str, sandbox: SandboxServer) -> Settings:
    return make_settings(
        tmp_path,
        app_db,
        sandbox,
        stripe_secret_key="sk_test_billing",
        stripe_webhook_secret=sandbox.stripe.webhook_secret,
        public_url="http://shop.example",
    )


@pytest.fixture
def stripe_setup(billing_settings: Settings) -> StripeBilling:
    billing = StripeBilling(api_url=billing_settings.stripe_api_url, secret_key="sk_test_billing")
    billing.setup_catalogue()
    return billing


@pytest.fixture
def served(
    billing_settings: Settings, sandbox: SandboxServer, stripe_setup: StripeBilling
) -> Iterator[ServedApi]:
    api = ServedApi(billing_settings)
    sandbox.stripe.forward_to = api.url + "/api/v1/billing/webhook"
    yield api
    sandbox.stripe.forward_to = None
    api.stop()


@pytest.fixture
def client(billing_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(billing_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def _subscription(client: TestClient, seller: Seller) -> dict[str, Any]:
    answer = client.get("/api/v1/billing/subscription", headers=seller.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _wait_until(client: TestClient, seller: Seller, check: Any, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = _subscription(client, seller)
        if check(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def _checkout(client: TestClient, seller: Seller, tier: str, card: str) -> None:
    answer = client.post("/api/v1/billing/checkout-session", json={"tier": tier}, headers=seller.auth)
    assert answer.status_code == 200, answer.text
    paid = requests.post(answer.json()["url"], data={"card": card}, allow_redirects=False, timeout=10)
    assert paid.status_code == 303, paid.text
    assert paid.headers["Location"].startswith("http://shop.example/billing/success")


def _advance(sandbox: SandboxServer, days: float) -> list[str]:
    answer = requests.post(sandbox.control_url + "/stripe/advance", json={"days": days}, timeout=10)
    answer.raise_for_status()
    return answer.json()["events"]


def _connect_wb(client: TestClient, seller: Seller, scenario: Scenario) -> None:
    wb = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")["credentials"]
    answer = client.post(
        "/api/v1/credentials/", json={"marketplace": "wildberries", **wb}, headers=seller.auth
    )
    assert answer.status_code == 201, answer.text


def _requested(settings: Settings, tier: str, tenant_id: str) -> bool:
    """Whether the tier's schedule, at its next tick, requests the tenant's partition."""
    defs = build_definitions(settings)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(tenant_partitions.name, [tenant_id])
        context = build_schedule_context(
            instance=instance,
            resources={"tenants": defs.resources["tenants"]},
            scheduled_execution_time=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
            repository_def=defs.get_repository_def(),
        )
        result = defs.resolve_schedule_def(f"{tier}_sync").evaluate_tick(context)
    return any(r.partition_key and tenant_id in str(r.partition_key) for r in result.run_requests or [])


def test_signup_trial_then_paid_checkout_moves_the_tenant_to_pro(
    client: TestClient,
    served: ServedApi,
    scenario: Scenario,
    billing_settings: Settings,
    sandbox: SandboxServer,
) -> None:
    seller = register(client)
    state = _subscription(client, seller)
    assert (state["tier"], state["status"], state["syncs_active"]) == ("starter", "trialing", True)
    trial_end = datetime.fromisoformat(state["trial_ends_at"])
    assert timedelta(days=13, hours=23) < trial_end - datetime.now(UTC) <= timedelta(days=14)
    _connect_wb(client, seller, scenario)
    assert _requested(billing_settings, "starter", seller.tenant_id)

    _checkout(client, seller, "pro", PRO_CARD)
    state = _wait_until(client, seller, lambda s: s["tier"] == "pro")
    # The trial days left carry over into the paid plan: Stripe bills after them.
    assert (state["tier"], state["status"]) == ("pro", "trialing")
    assert abs(datetime.fromisoformat(state["current_period_end"]) - trial_end) < timedelta(days=1)
    assert _requested(billing_settings, "pro", seller.tenant_id)
    assert not _requested(billing_settings, "starter", seller.tenant_id)

    # One customer per tenant: the portal reuses it; a second checkout is refused while subscribed.
    portal = client.post("/api/v1/billing/portal-session", headers=seller.auth)
    assert portal.status_code == 200 and "/portal/bps_" in portal.json()["url"]
    assert len(sandbox.stripe.of_kind("customer")) >= 1
    customers = {s["customer"] for s in sandbox.stripe.of_kind("subscription")}
    again = client.post("/api/v1/billing/checkout-session", json={"tier": "enterprise"}, headers=seller.auth)
    assert again.status_code == 409 and again.json()["error"]["code"] == "subscription_exists"
    assert {s["customer"] for s in sandbox.stripe.of_kind("subscription")} == customers


def _signed(secret: str, body: bytes, at: int | None = None) -> dict[str, str]:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def test_forged_stale_and_tampered_signatures_change_nothing_and_events_apply_once(
    client: TestClient, billing_settings: Settings
) -> None:
    seller = register(client)
    secret = billing_settings.stripe_webhook_secret
    event = {
        "id": "evt_test_upgrade_" + seller.tenant_id,
        "object": "event",
        "type": "customer.subscription.updated",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "sub_test_" + seller.tenant_id,
                "object": "subscription",
                "status": "active",
                "customer": "cus_test_" + seller.tenant_id,
                "metadata": {"tenant": seller.tenant_id},
                "cancel_at_period_end": False,
                "items": {
                    "data": [
                        {"price": {"lookup_key": "enterprise_monthly"}, "current_period_end": 2_000_000_000}
                    ]
                },
            }
        },
    }
    body = orjson.dumps(event)
    url = "/api/v1/billing/webhook"
    attempts = {
        "forged": _signed("whsec_not_the_secret", body),
        "stale": _signed(secret, body, at=int(time.time()) - 600),
        "missing": {"Content-Type": "application/json"},
    }
    for name, headers in attempts.items():
        refused = client.post(url, content=body, headers=headers)
        assert refused.status_code == 400, name
        assert refused.json()["error"]["code"] == "invalid_signature"
    tampered = body.replace(b"enterprise_monthly", b"pro_monthly")
    assert client.post(url, content=tampered, headers=_signed(secret, body)).status_code == 400
    assert _subscription(client, seller)["tier"] == "starter"

    first = client.post(url, content=body, headers=_signed(secret, body))
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    assert _subscription(client, seller)["tier"] == "enterprise"
    again = client.post(url, content=body, headers=_signed(secret, body))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    with engine_for(billing_settings.app_database_url).connect() as connection:
        count = connection.execute(
            text("select count(*) from stripe_events where id = :id"), {"id": event["id"]}
        )
        assert count.scalar_one() == 1

    unknown = orjson.dumps(
        {**event, "id": "evt_unknown_" + seller.tenant_id, "type": "customer.tax_id.created"}
    )
    assert client.post(url, content=unknown, headers=_signed(secret, unknown)).status_code == 200


def test_failed_payment_past_due_grace_then_syncs_stop_and_out_of_order_events(
    client: TestClient, served: ServedApi, sandbox: SandboxServer, app_db: str
) -> None:
    seller = register(client)
    _checkout(client, seller, "pro", FAILING_CARD)
    _wait_until(client, seller, lambda s: s["tier"] == "pro")
    events = _advance(sandbox, 15)  # the trial ends: the card's charge fails
    state = _wait_until(client, seller, lambda s: s["status"] == "past_due")
    assert state["status"] == "past_due" and state["syncs_active"] is True
    assert state["syncs_note"] == "payment_failed_grace"
    grace_until = datetime.fromisoformat(state["grace_until"])
    with session_factory(app_db)() as session:
        assert seller.tenant_id not in blocked_tenants(session, grace_until - timedelta(hours=1))
        assert seller.tenant_id in blocked_tenants(session, grace_until + timedelta(hours=1))

    # Stripe re-sends the whole story newest first, twice: the newest state still wins.
    story = [
        e["id"]
        for e in sandbox.stripe.events
        if e["data"]["object"].get("customer") in _customers(sandbox, seller)
    ]
    requests.post(
        sandbox.control_url + "/stripe/deliver", json={"events": story[::-1], "times": 2}, timeout=10
    ).raise_for_status()
    deadline = time.monotonic() + 15
    while sandbox.stripe.outbox and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert _subscription(client, seller)["status"] == "past_due"
    assert events

    _advance(sandbox, 31)  # the next period's retry fails as well: unpaid
    state = _wait_until(client, seller, lambda s: s["status"] == "unpaid")
    assert (state["status"], state["syncs_active"]) == ("unpaid", False)
    # Read-only: reads work, changes are refused, the data is kept.
    assert client.get("/api/v1/tenants/me", headers=seller.auth).status_code == 200
    change = client.patch("/api/v1/tenants/me", json={"low_stock_days": 5}, headers=seller.auth)
    assert change.status_code == 403 and change.json()["error"]["code"] == "subscription_read_only"


def _drained(sandbox: SandboxServer) -> None:
    """Every event queued so far delivered (and answered)."""
    deadline = time.monotonic() + 15
    while sandbox.stripe.outbox and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)


def test_two_states_of_one_second_delivered_in_reverse_end_in_stripes_latest(
    client: TestClient, served: ServedApi, sandbox: SandboxServer, stripe_setup: StripeBilling
) -> None:
    seller = register(client)
    _checkout(client, seller, "pro", PRO_CARD)
    _wait_until(client, seller, lambda s: s["tier"] == "pro")
    _drained(sandbox)
    sub_id = next(
        s["id"]
        for s in sandbox.stripe.of_kind("subscription")
        if s["metadata"].get("tenant") == seller.tenant_id
    )
    forward_to = sandbox.stripe.forward_to
    sandbox.stripe.forward_to = None  # held: delivered below, out of order
    # Two seconds on, so the states below are newer than the checkout's (which may share a second).
    requests.post(sandbox.control_url + "/stripe/advance", json={"seconds": 2}, timeout=10).raise_for_status()
    # The seller cancels and changes their mind within one second: two `updated` events whose
    # `created` are equal, so only Stripe knows which state is the current one.
    for _ in range(20):
        before = len(sandbox.stripe.events)
        stripe_setup.client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": True})
        stripe_setup.client.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
        cancel, resume = sandbox.stripe.events[before : before + 2]
        if cancel["created"] == resume["created"]:
            break
    assert cancel["created"] == resume["created"]
    assert (cancel["type"], resume["type"]) == ("customer.subscription.updated",) * 2
    sandbox.stripe.outbox.clear()
    sandbox.stripe.forward_to = forward_to
    # Stripe refuses the first look-up: the tied event is answered 503, stores nothing, and is
    # settled when Stripe delivers it again.
    requests.post(
        sandbox.control_url + "/faults",
        json={"service": "stripe", "endpoint": "*subscriptions/*", "kind": "401", "count": 1},
        timeout=10,
    ).raise_for_status()
    start = len(sandbox.stripe.deliveries)
    requests.post(
        sandbox.control_url + "/stripe/deliver", json={"events": [resume["id"], cancel["id"]]}, timeout=10
    ).raise_for_status()

    def delivered() -> list[dict[str, Any]]:  # the sandbox is shared: only these two events
        return [d for d in sandbox.stripe.deliveries[start:] if d["event"] in (resume["id"], cancel["id"])]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and [d["status"] for d in delivered()] != [200, 200]:
        time.sleep(0.05)
    state = _subscription(client, seller)
    assert (state["cancel_at_period_end"], state["status"], state["tier"]) == (False, "trialing", "pro")
    first, second = delivered()
    assert (first["event"], first["attempts"], first["status"]) == (resume["id"], 1, 200)
    assert (second["event"], second["attempts"], second["status"]) == (cancel["id"], 2, 200)


def _customers(sandbox: SandboxServer, seller: Seller) -> set[str]:
    return {
        s["customer"]
        for s in sandbox.stripe.of_kind("subscription")
        if s["metadata"].get("tenant") == seller.tenant_id
    }


def test_trial_without_a_card_pauses_syncs(client: TestClient, app_db: str) -> None:
    seller = register(client)
    with engine_for(app_db).begin() as connection:
        connection.execute(
            text("update subscriptions set trial_ends_at = :t where tenant_id = :id"),
            {"t": datetime.now(UTC) - timedelta(minutes=1), "id": seller.tenant_id},
        )
    state = _subscription(client, seller)
    assert (state["syncs_active"], state["syncs_note"]) == (False, "trial_ended")
    started = client.post("/api/v1/sync/", headers=seller.auth)
    assert started.status_code == 403 and started.json()["error"]["code"] == "syncs_paused"


def test_api_quota_call_n_passes_n_plus_one_gets_429_with_the_reset(client: TestClient, app_db: str) -> None:
    seller = register(client)
    first = client.get("/api/v1/tenants/me", headers=seller.auth)
    assert first.headers["RateLimit-Limit"] == "1000" and first.headers["RateLimit-Remaining"] == "999"
    period = datetime.now(UTC).strftime("%Y-%m")
    with engine_for(app_db).begin() as connection:  # 998 calls made earlier this month
        connection.execute(
            text("update api_usage set calls = 998 where tenant_id = :id and period = :p"),
            {"id": seller.tenant_id, "p": period},
        )
    last = client.get("/api/v1/tenants/me", headers=seller.auth)
    assert last.status_code == 200 and last.headers["RateLimit-Remaining"] == "1"
    last = client.get("/api/v1/tenants/me", headers=seller.auth)
    assert last.status_code == 200 and last.headers["RateLimit-Remaining"] == "0"
    over = client.get("/api/v1/tenants/me", headers={**seller.auth, "Accept-Language": "en"})
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "plan_quota_exceeded"
    assert "Pro" in over.json()["error"]["message"]
    reset = int(over.headers["RateLimit-Reset"])
    assert over.headers["Retry-After"] == str(reset)
    now = datetime.now(UTC)
    next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    assert abs((now + timedelta(seconds=reset)) - next_month) < timedelta(seconds=5)
    # Billing stays open, so the seller can upgrade.
    usage = client.get("/api/v1/billing/usage", headers=seller.auth)
    assert usage.status_code == 200 and usage.json()["api_calls"] == {"used": 1001, "limit": 1000}


def test_api_quota_in_redis_n_passes_n_plus_one_429_and_counts_survive_a_restart(
    tmp_path: Path, app_db: str, sandbox: SandboxServer, redis_url: str
) -> None:
    settings = make_settings(tmp_path, app_db, sandbox, redis_url=redis_url)
    store = redis.Redis.from_url(redis_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        seller = register(client, name=f"Redis {uuid.uuid4().hex[:8]}")
        key = redis_key(seller.tenant_id, datetime.now(UTC).strftime("%Y-%m"))
        store.delete(key)  # a tenant id of an earlier run of the suite
        first = client.get("/api/v1/tenants/me", headers=seller.auth)
        assert first.status_code == 200 and first.headers["RateLimit-Remaining"] == "999"
        assert int(store.get(key) or 0) == 1  # counted in Redis, not in the database
        store.set(key, 998)  # 998 calls made earlier this month, by any API process
        for remaining in ("1", "0"):
            answer = client.get("/api/v1/tenants/me", headers=seller.auth)
            assert answer.status_code == 200 and answer.headers["RateLimit-Remaining"] == remaining
            assert answer.headers["RateLimit-Limit"] == "1000" and "RateLimit-Policy" in answer.headers
        over = client.get("/api/v1/tenants/me", headers={**seller.auth, "Accept-Language": "en"})
        assert over.status_code == 429 and over.json()["error"]["code"] == "plan_quota_exceeded"
        assert over.headers["RateLimit-Remaining"] == "0"
        assert over.headers["Retry-After"] == over.headers["RateLimit-Reset"]
        now = datetime.now(UTC)
        next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
        reset = now + timedelta(seconds=int(over.headers["RateLimit-Reset"]))
        assert abs(reset - next_month) < timedelta(seconds=5)
        assert next_month.strftime("%Y-%m-%d") in over.json()["error"]["message"]
    # A new API process (a restart, or a second replica) sees the same count.
    with TestClient(create_app(settings), raise_server_exceptions=False) as restarted:
        again = restarted.get("/api/v1/tenants/me", headers=seller.auth)
        assert again.status_code == 429 and again.json()["error"]["code"] == "plan_quota_exceeded"
        usage = restarted.get("/api/v1/billing/usage", headers=seller.auth)
        assert usage.status_code == 200 and usage.json()["api_calls"] == {"used": 1002, "limit": 1000}
    with engine_for(app_db).connect() as connection:  # the database was not the counter
        calls = connection.execute(
            text("select coalesce(sum(calls), 0) from api_usage where tenant_id = :id"),
            {"id": seller.tenant_id},
        ).scalar_one()
    assert calls == 0
    store.delete(key)


def test_second_marketplace_on_starter_403_on_pro_201(
    client: TestClient, scenario: Scenario, app_db: str
) -> None:
    wb = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")["credentials"]
    ozon = next(s for s in scenario["sellers"] if s["marketplace"] == "ozon")["credentials"]
    seller = register(client)
    assert (
        client.post(
            "/api/v1/credentials/", json={"marketplace": "wildberries", **wb}, headers=seller.auth
        ).status_code
        == 201
    )
    refused = client.post(
        "/api/v1/credentials/",
        json={"marketplace": "ozon", **ozon},
        headers={**seller.auth, "Accept-Language": "en"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "plan_limit"
    assert "Pro" in refused.json()["error"]["message"]
    # Replacing the connected marketplace's key is not one more marketplace.
    assert (
        client.post(
            "/api/v1/credentials/", json={"marketplace": "wildberries", **wb}, headers=seller.auth
        ).status_code
        == 201
    )
    with engine_for(app_db).begin() as connection:
        connection.execute(text("update tenants set tier = 'pro' where id = :id"), {"id": seller.tenant_id})
    assert (
        client.post(
            "/api/v1/credentials/", json={"marketplace": "ozon", **ozon}, headers=seller.auth
        ).status_code
        == 201
    )


def test_manual_syncs_per_hour(client: TestClient, scenario: Scenario, app_db: str) -> None:
    seller = register(client)
    _connect_wb(client, seller, scenario)
    with session_factory(app_db)() as session:  # two manual syncs already ran this hour (starter: 2)
        for minutes in (50, 10):
            session.add(
                SyncRun(
                    tenant_id=seller.tenant_id,
                    trigger="api",
                    tier="starter",
                    status="success",
                    started_at=datetime.now(UTC) - timedelta(minutes=minutes),
                )
            )
        session.commit()
    refused = client.post("/api/v1/sync/", headers=seller.auth)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "manual_sync_limit"
    assert 500 < int(refused.headers["Retry-After"]) <= 600
    usage = client.get("/api/v1/billing/usage", headers=seller.auth).json()
    assert usage["manual_syncs_this_hour"] == {"used": 2, "limit": 2}


def test_manual_syncs_from_the_bot_and_the_api_share_the_hourly_limit(
    client: TestClient, app_db: str
) -> None:
    seller = register(client)
    now = datetime.now(UTC)

    def ran(trigger: str, minutes_ago: int) -> None:
        session.add(
            SyncRun(
                tenant_id=seller.tenant_id,
                trigger=trigger,
                tier="starter",
                status="success",
                started_at=now - timedelta(minutes=minutes_ago),
            )
        )
        session.commit()

    with session_factory(app_db)() as session:
        tenant = session.get(Tenant, seller.tenant_id)
        assert tenant is not None
        ran("schedule", 5)  # the plan's cadence is not a manual sync
        ran("api", 70)  # over an hour ago
        assert manual_sync_verdict(session, tenant, now) == ManualSyncVerdict(True, 0, 2)
        ran("manual", 20)  # from the Telegram bot
        assert manual_sync_verdict(session, tenant, now).allowed
        ran("api", 10)
        verdict = manual_sync_verdict(session, tenant, now)
        assert (verdict.allowed, verdict.code, verdict.used, verdict.limit) == (
            False,
            "manual_sync_limit",
            2,
            2,
        )
        assert verdict.retry_after_seconds == 40 * 60  # when the bot's sync leaves the hour
        # What the bot calls: refused the same way, before Dagster is ever asked.
        nowhere = DagsterClient("http://127.0.0.1:9/graphql", timeout=1)
        with pytest.raises(ApiError) as refused:
            start_manual_sync(session, nowhere, tenant, trigger="manual")
        assert (refused.value.status_code, refused.value.code) == (429, "manual_sync_limit")
    answer = client.post("/api/v1/sync/", headers=seller.auth)
    assert answer.status_code == 429 and answer.json()["error"]["code"] == "manual_sync_limit"
    assert 39 * 60 <= int(answer.headers["Retry-After"]) <= 40 * 60


def test_viewers_and_admins_cannot_buy_cancel_or_open_the_portal(client: TestClient) -> None:
    owner = register(client)
    for role in ("viewer", "admin"):
        member = add_member(client, owner, role)
        for path, body in (
            ("/api/v1/billing/checkout-session", {"tier": "pro"}),
            ("/api/v1/billing/portal-session", None),
            ("/api/v1/billing/cancel", None),
            ("/api/v1/billing/change-plan", {"tier": "pro"}),
        ):
            answer = client.post(path, json=body, headers=member.auth)
            assert answer.status_code == 403, (role, path)
            assert answer.json()["error"]["code"] == "forbidden_role"
        assert client.get("/api/v1/billing/subscription", headers=member.auth).status_code == 200


def test_plans_are_the_design_table(client: TestClient) -> None:
    plans = {p["tier"]: p for p in client.get("/api/v1/billing/plans").json()}
    assert [
        (t, p["price_usd_per_month"], p["api_calls_per_month"], p["products"], p["marketplaces"])
        for t, p in plans.items()
    ] == [
        ("starter", "9.90", 1000, 100, 1),
        ("pro", "29.90", 10000, 1000, 2),
        ("enterprise", "99.90", 100000, 10000, None),
    ]
    assert [p["sync_every_minutes"] for p in plans.values()] == [120, 30, 10]
    assert [p["outgoing_webhooks"] for p in plans.values()] == [False, True, True]


def test_cancel_at_period_end_keeps_the_plan_until_then(
    client: TestClient, served: ServedApi, sandbox: SandboxServer
) -> None:
    seller = register(client)
    _checkout(client, seller, "pro", PRO_CARD)
    _wait_until(client, seller, lambda s: s["tier"] == "pro")
    cancelled = client.post("/api/v1/billing/cancel", headers=seller.auth)
    assert cancelled.status_code == 200 and cancelled.json()["cancel_at_period_end"] is True
    assert cancelled.json()["status"] == "trialing" and cancelled.json()["syncs_active"] is True
    _advance(sandbox, 15)
    state = _wait_until(client, seller, lambda s: s["status"] == "canceled")
    assert (state["status"], state["syncs_active"], state["tier"]) == ("canceled", False, "pro")


def test_a_tenant_over_its_product_limit_sees_the_first_n_and_the_note(
    client: TestClient, billing_settings: Settings, app_db: str
) -> None:
    seller = register(client)
    rows = [
        Row(product_id=1000 + i, warehouse="Коледино", stock=i + 1, article=f"ART-{i:03d}")
        for i in range(105)
    ]
    seed_stock(billing_settings, seller.tenant_id, rows)
    page = client.get("/api/v1/products/?page_size=200", headers={**seller.auth, "Accept-Language": "en"})
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total"] == 100 and len(body["items"]) == 100
    assert [p["article"] for p in body["items"]][-1] == "ART-099"  # the first 100 by seller article
    assert body["left_out_by_plan"] == 5
    assert "Left out: 5" in body["plan_note"] and "Pro" in body["plan_note"]
    # A left-out product's own page says which plan shows it; a shown one opens.
    assert client.get("/api/v1/products/1099", headers=seller.auth).status_code == 200
    hidden = client.get("/api/v1/products/1100", headers={**seller.auth, "Accept-Language": "en"})
    assert hidden.status_code == 403 and hidden.json()["error"]["code"] == "product_left_out"
    assert "The Pro plan shows it" in hidden.json()["error"]["message"]
    with engine_for(app_db).begin() as connection:  # changed elsewhere (another replica, the CLI)
        connection.execute(text("update tenants set tier = 'pro' where id = :id"), {"id": seller.tenant_id})
    # The list answers from a sign-in check cached for at most 5 s (api/principal_cache.py).
    changed_at = time.monotonic()
    while True:
        pro = client.get("/api/v1/products/?page_size=200", headers=seller.auth).json()
        if pro["total"] == 105 or time.monotonic() - changed_at > MAX_SECONDS + 1:
            break
        time.sleep(0.1)
    assert (pro["total"], pro["left_out_by_plan"], pro["plan_note"]) == (105, 0, None)
    assert client.get("/api/v1/products/1100", headers=seller.auth).status_code == 200


def test_upgrade_applies_now_and_a_downgrade_at_the_period_end_keeping_all_data(
    client: TestClient,
    served: ServedApi,
    sandbox: SandboxServer,
    scenario: Scenario,
    billing_settings: Settings,
) -> None:
    seller = register(client)
    _checkout(client, seller, "pro", PRO_CARD)
    _wait_until(client, seller, lambda s: s["tier"] == "pro")
    _advance(sandbox, 15)  # the trial ends and the card pays: active
    _wait_until(client, seller, lambda s: s["status"] == "active")

    up = client.post("/api/v1/billing/change-plan", json={"tier": "enterprise"}, headers=seller.auth)
    assert up.status_code == 200, up.text
    state = _wait_until(client, seller, lambda s: s["tier"] == "enterprise")
    assert state["tier"] == "enterprise"
    prorated = [i for i in sandbox.stripe.of_kind("invoice") if i["billing_reason"] == "subscription_update"]
    assert len(prorated) == 1 and 0 < prorated[0]["amount_paid"] < 9990 - 2990

    # On Enterprise: both marketplaces and more products than Starter shows.
    _connect_wb(client, seller, scenario)
    ozon = next(s for s in scenario["sellers"] if s["marketplace"] == "ozon")["credentials"]
    connected = client.post("/api/v1/credentials/", json={"marketplace": "ozon", **ozon}, headers=seller.auth)
    assert connected.status_code == 201, connected.text
    rows = [Row(product_id=5000 + i, warehouse="Коледино", stock=1, article=f"A-{i:03d}") for i in range(104)]
    seed_stock(billing_settings, seller.tenant_id, rows)
    assert client.get("/api/v1/products/", headers=seller.auth).json()["total"] == 104

    down = client.post("/api/v1/billing/change-plan", json={"tier": "starter"}, headers=seller.auth)
    assert down.status_code == 200 and down.json()["pending_tier"] == "starter"
    time.sleep(1)  # the update's webhook arrives: the paid period still runs on Enterprise
    state = _subscription(client, seller)
    assert (state["tier"], state["pending_tier"]) == ("enterprise", "starter")
    _advance(sandbox, 31)  # the period ends: the next one is Starter
    state = _wait_until(client, seller, lambda s: s["tier"] == "starter")
    assert (state["tier"], state["pending_tier"], state["status"]) == ("starter", None, "active")
    # Nothing was deleted: Starter shows its first 100 products and says so; both keys are kept.
    page = client.get("/api/v1/products/", params={"page_size": 200}, headers=seller.auth).json()
    assert (page["total"], page["left_out_by_plan"]) == (100, 4)
    keys = client.get("/api/v1/credentials/status", headers=seller.auth).json()
    assert sorted(c["marketplace"] for c in keys if c["connected"]) == ["ozon", "wildberries"]
    usage = client.get("/api/v1/billing/usage", headers=seller.auth).json()
    assert usage["marketplaces"] == {"used": 2, "limit": 1}
    # Back on Pro, every product is there again.
    assert (
        client.post("/api/v1/billing/change-plan", json={"tier": "pro"}, headers=seller.auth).status_code
        == 200
    )
    _wait_until(client, seller, lambda s: s["tier"] == "pro")
    assert client.get("/api/v1/products/", headers=seller.auth).json()["total"] == 104

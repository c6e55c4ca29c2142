"""Alerts (DESIGN §6b) through the sandbox's Bot API: each fires once when its condition starts,
re-arms only after it cleared, and waits out the chat's quiet hours; account alerts come from the
`telegram_deliveries` sensor, since a failing sync never reaches the report step."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from dagster import build_sensor_context

from api.bot.delivery import send_due
from assets.telegram_report import telegram_deliveries
from resources.telegram_reports import TelegramReports
from resources.tenants import TenantDirectory
from tests.bot.sync_platform import WB_SELLER, Platform
from warehouse.models import Subscription
from warehouse.sync_runs import record_finished_run
from warehouse.telegram_deliveries import deliveries
from warehouse.tenants import mark_checked, store_credentials
from warehouse.vault import CredentialVault

CHAT = 601


def sold_out_place(platform: Platform) -> tuple[int, str, list[int], int]:
    """The WB seller's product that sells where it has nothing (bot_scenario): nmID, warehouse
    name, its sizes, warehouse id."""
    seller = next(s for s in platform.scenario["sellers"] if s["name"] == WB_SELLER)
    order = seller["orders"][0]
    product = next(p for p in seller["products"] if any(z["chrt_id"] == order["chrt_id"] for z in p["sizes"]))
    warehouse = next(w for w in seller["warehouses"] if w["id"] == order["warehouse_id"])
    return product["nm_id"], warehouse["name"], [z["chrt_id"] for z in product["sizes"]], warehouse["id"]


def set_stock(platform: Platform, sizes: list[int], warehouse_id: int, quantity: int) -> None:
    changed = platform.changed()
    seller = next(s for s in changed["sellers"] if s["name"] == WB_SELLER)
    rows = [s for s in seller["stocks"] if s["chrt_id"] in sizes and s["warehouse_id"] == warehouse_id]
    for row in rows:
        row["quantity"] = 0
    if quantity:
        if rows:
            rows[0]["quantity"] = quantity
        else:
            seller["stocks"].append({"chrt_id": sizes[0], "warehouse_id": warehouse_id, "quantity": quantity})
    platform.load_scenario(changed)


def alert_texts(platform: Platform, chat: int = CHAT) -> list[str]:
    return [p["text"] for m, p in platform.sent(chat) if m == "sendMessage" and "🔔" in p["text"]]


def test_a_stock_alert_fires_once_and_again_only_after_it_cleared(platform: Platform) -> None:
    platform.link(WB_SELLER, CHAT, report_mode="alerts")
    product, warehouse, sizes, warehouse_id = sold_out_place(platform)
    line = f"<code>{product}</code> — {warehouse}: закончился, а заказы есть"

    assert platform.sync(WB_SELLER).success
    first = alert_texts(platform)
    assert len(first) == 1 and line in first[0]

    assert platform.sync(WB_SELLER).success  # the same stock: nothing new
    assert len(alert_texts(platform)) == 1

    set_stock(platform, sizes, warehouse_id, 500)  # restocked: the condition clears, re-armed
    assert platform.sync(WB_SELLER).success
    assert len(alert_texts(platform)) == 1

    set_stock(platform, sizes, warehouse_id, 0)  # sold out again: it fires again, alone
    assert platform.sync(WB_SELLER).success
    texts = alert_texts(platform)
    assert len(texts) == 2 and line in texts[1]
    assert texts[1].count("<code>") == 1


def test_alerts_wait_out_quiet_hours(platform: Platform) -> None:
    started = datetime.now(UTC)
    hour = started.hour
    # Quiet from this hour for two hours (UTC): the sync happens inside them, even when it runs
    # past the next full hour; the quiet hours end two hours after this one began.
    platform.link(WB_SELLER, CHAT, quiet_start=hour, quiet_end=(hour + 2) % 24, timezone="UTC")
    assert platform.sync(WB_SELLER).success
    assert platform.sent(CHAT) == []  # no report in quiet hours, the alert waits

    end = started.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    with platform.session() as session:
        (alert,) = deliveries(session, WB_SELLER, CHAT)
        assert (alert.kind, alert.status, alert.next_attempt_at) == ("alert", "pending", end)
    reports = TelegramReports(
        app_database_url=platform.settings.app_database_url,
        api_url=platform.settings.telegram_api_url,
        time_scale=1000.0,
    )
    with platform.session() as session, reports.sender() as sender:
        assert send_due(session, sender, now=end - timedelta(minutes=1)).sent == 0
        assert platform.sent(CHAT) == []
        assert send_due(session, sender, now=end + timedelta(seconds=1)).sent == 1
    (text,) = alert_texts(platform)
    assert "закончился, а заказы есть" in text


def run_sensor(platform: Platform) -> str:
    resources: dict[str, Any] = {
        "tenants": TenantDirectory(app_database_url=platform.settings.app_database_url),
        "telegram": TelegramReports(
            app_database_url=platform.settings.app_database_url,
            api_url=platform.settings.telegram_api_url,
            time_scale=1000.0,
        ),
    }
    with build_sensor_context(resources=resources) as context:
        result = telegram_deliveries(context)
    return str(result.skip_message)  # type: ignore[union-attr]


def test_account_alerts_fire_once_and_rearm(platform: Platform) -> None:
    platform.link(WB_SELLER, CHAT, language="en")
    now = datetime.now(UTC)
    vault = CredentialVault([Fernet.generate_key().decode()])
    seller = next(s for s in platform.scenario["sellers"] if s["name"] == WB_SELLER)

    def store_token(expires_at: datetime) -> None:
        with platform.session() as session:
            store_credentials(
                session,
                vault,
                WB_SELLER,
                "wildberries",
                seller["credentials"],
                status="valid",
                expires_at=expires_at,
            )

    def fail(times: int, status: str = "failed") -> None:
        with platform.session() as session:
            for _ in range(times):
                stamp = datetime.now(UTC)
                record_finished_run(
                    session,
                    str(uuid.uuid4()),
                    WB_SELLER,
                    "schedule",
                    "enterprise",
                    status,
                    stamp,
                    stamp,
                    error=None if status == "success" else "WB answered 503 for 40 minutes",
                )

    # Nothing to say yet.
    assert run_sensor(platform).startswith("0 alerts fired")
    assert alert_texts(platform) == []

    # A token expiring in 3 days: once, however often the sensor looks.
    store_token(now + timedelta(days=3))
    run_sensor(platform)
    run_sensor(platform)
    texts = alert_texts(platform)
    assert len(texts) == 1 and "The WB token expires on" in texts[0]
    # A new token (far expiry) clears it; one that expires soon again fires again.
    store_token(now + timedelta(days=120))
    run_sensor(platform)
    store_token(now + timedelta(days=2))
    run_sensor(platform)
    assert len(alert_texts(platform)) == 2

    # A key the marketplace refused.
    with platform.session() as session:
        mark_checked(session, WB_SELLER, "wildberries", status="invalid", message="401: token withdrawn")
    run_sensor(platform)
    texts = alert_texts(platform)
    assert len(texts) == 3 and "WB refused the key: 401: token withdrawn" in texts[2]

    # Three failed syncs in a row: once, not again on the fourth; a success re-arms it.
    fail(2)
    run_sensor(platform)
    assert len(alert_texts(platform)) == 3
    fail(1)
    run_sensor(platform)
    fail(1)
    run_sensor(platform)
    texts = alert_texts(platform)
    assert len(texts) == 4 and "The sync failed 3 times in a row: WB answered 503" in texts[3]
    fail(1, "success")
    run_sensor(platform)
    fail(3)
    run_sensor(platform)
    assert len(alert_texts(platform)) == 5

    # A trial (no card given) ending in two days.
    with platform.session() as session:
        session.add(
            Subscription(
                tenant_id=WB_SELLER,
                tier="enterprise",
                status="trialing",
                trial_ends_at=now + timedelta(days=2),
            )
        )
        session.commit()
    run_sensor(platform)
    run_sensor(platform)
    texts = alert_texts(platform)
    assert len(texts) == 6 and "The trial ends on" in texts[5]


def test_a_key_refused_during_a_sync_is_an_alert(platform: Platform) -> None:
    platform.link(WB_SELLER, CHAT)
    platform.fault(service="wb_content", endpoint="*", kind="401", fraction=1.0)
    assert not platform.sync(WB_SELLER).success
    assert platform.sent(CHAT) == []  # the report step never ran

    assert run_sensor(platform).startswith("1 alerts fired")
    (text,) = alert_texts(platform)
    assert "🚫 WB отклонил ключ" in text and "/connect" in text
    assert "eyJ" not in text  # never the token
    run_sensor(platform)
    assert len(alert_texts(platform)) == 1

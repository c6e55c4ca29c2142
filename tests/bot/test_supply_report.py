"""The supply plan in Telegram after a real sync: the report's "ship first" block equals the plan's
`urgent_rows`, and a broken reporting identity (the sandbox breaks it on purpose) is told to the
seller once, again only after a sync found it holding."""

from __future__ import annotations

import requests

from api.bot.report import TEXT_LIMIT
from api.bot.supply_report import SHIP_FIRST_SHOWN, ship_line
from tests.bot.sync_platform import WB_SELLER, Platform
from warehouse.plans import PLANS
from warehouse.supply_guard import guard_findings
from warehouse.supply_plan import tenant_plan, tenant_today, urgent_rows
from warehouse.supply_settings import load_settings

CHAT = 611


def reports(platform: Platform) -> list[str]:
    return [
        p["text"] for m, p in platform.sent(CHAT) if m == "sendMessage" and "Отчёт об остатках" in p["text"]
    ]


def guard_alerts(platform: Platform) -> list[str]:
    return [p["text"] for m, p in platform.sent(CHAT) if m == "sendMessage" and "🧭" in p["text"]]


def break_identities(platform: Platform, *identities: str) -> None:
    requests.post(
        platform.server.control_url + "/settings", json={"broken_identities": list(identities)}, timeout=10
    ).raise_for_status()


def test_the_report_has_the_plans_ship_first_rows(platform: Platform) -> None:
    platform.link(WB_SELLER, CHAT, report_mode="every_sync")
    assert platform.sync(WB_SELLER).success
    tenant = platform.tenants()[WB_SELLER]
    with platform.session() as session:
        settings = load_settings(session, tenant.id)
    with platform.reader(WB_SELLER) as reader:
        plan = tenant_plan(reader, settings, tenant_today(tenant.timezone), PLANS[tenant.tier].products)
    urgent = urgent_rows(plan)
    assert urgent and urgent[0]["urgency"] == "overdue"  # the scenario sells where it has nothing

    (text,) = reports(platform)
    assert len(text) <= TEXT_LIMIT
    block = text.split("<b>🚚 ", 1)[1]
    assert block.startswith(f"Отгрузить в первую очередь ({len(urgent)}):</b>")
    lines = [f"{i}. {ship_line(row, 'ru')}" for i, row in enumerate(urgent[:SHIP_FIRST_SHOWN], 1)]
    assert "\n".join(lines) in block  # the same rows, in the plan's order
    if len(urgent) > SHIP_FIRST_SHOWN:
        assert f"…и ещё {len(urgent) - SHIP_FIRST_SHOWN}: /plan" in block


def test_a_broken_identity_is_told_once_and_again_after_it_held(platform: Platform) -> None:
    platform.link(WB_SELLER, CHAT, report_mode="alerts")
    try:
        break_identities(platform, "wb_report_vs_remains")
        assert platform.sync(WB_SELLER).success  # the sync still publishes
        with platform.reader(WB_SELLER) as reader:
            findings = guard_findings(reader)
        assert {(f["marketplace"], f["identity"]) for f in findings} == {
            ("wildberries", "wb_report_vs_remains")
        }
        (first,) = guard_alerts(platform)
        products = len({f["product_id"] for f in findings})
        assert (
            f"🧭 WB: данные маркетплейса не сходятся (отчёт об остатках ≠ warehouse_remains) "
            f"у товаров: {products}." in first
        )

        assert platform.sync(WB_SELLER).success  # still broken: not told again
        assert len(guard_alerts(platform)) == 1

        break_identities(platform)  # holds again: re-armed, nothing sent
        assert platform.sync(WB_SELLER).success
        assert len(guard_alerts(platform)) == 1

        break_identities(platform, "wb_report_vs_remains")  # broken again: told again
        assert platform.sync(WB_SELLER).success
        assert len(guard_alerts(platform)) == 2
    finally:
        break_identities(platform)

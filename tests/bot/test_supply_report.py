"""The supply plan in Telegram after a real sync: the report's "ship first" block equals the plan's
`urgent_rows`, and a broken reporting identity (the sandbox breaks it on purpose) is told to the
seller once, again only after a sync found it holding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from fastapi.testclient import TestClient

from api.bot.report import TEXT_LIMIT
from api.bot.supply_report import SHIP_FIRST_SHOWN, ship_line
from api.main import create_app
from api.security import hash_password
from tests.bot.sync_platform import WB_BOOK, WB_SELLER, Platform
from warehouse.plans import PLANS
from warehouse.supply_guard import TOLERANCE_SHARE, guard_findings
from warehouse.supply_plan import tenant_plan, tenant_today, urgent_rows
from warehouse.supply_settings import load_settings
from warehouse.tenants import update_settings
from warehouse.users import add_user

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


@contextmanager
def plan_api(platform: Platform, tenant: str) -> Iterator[Any]:
    """`GET /api/v1/supply-plan` as an owner of `tenant` signed in through the API."""
    email, password = f"owner@{tenant}.example", "correct horse battery"
    with platform.session() as session:
        add_user(session, tenant, email=email, password_hash=hash_password(password), role="owner")
        session.commit()
    with TestClient(create_app(platform.settings)) as client:
        signed = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert signed.status_code == 200, signed.text
        headers = {"Authorization": f"Bearer {signed.json()['access_token']}"}

        def read() -> dict[str, Any]:
            answer = client.get("/api/v1/supply-plan", headers=headers)
            assert answer.status_code == 200, answer.text
            return answer.json()

        yield read


def plan_sheet_doubt(platform: Platform) -> dict[int, str]:
    """product id → the `Данные` cell of its rows in the published `План поставок`."""
    answer = requests.get(f"{platform.server.control_url}/sheets/spreadsheets/{WB_BOOK}", timeout=30)
    (tab,) = [t for t in answer.json()["sheets"] if t["title"] == "План поставок"]
    header = tab["values"][1]
    column = header.index("Данные")
    return {int(row[1]): row[column] or "" for row in tab["values"][2:] if len(row) > column}


def test_the_remains_total_identity_in_the_bot_scenario(platform: Platform) -> None:
    """The bot scenario's first warehouse_remains row is out of stock (WB lists no lines for it):
    breaking WB's total there broke nothing, so the seller was never told. Now the break lands on a
    product with a total, and a big total 7 units off is not hidden by the cross-report tolerance."""
    with platform.session() as session:
        update_settings(session, WB_SELLER, spreadsheet_id=WB_BOOK)
        session.commit()
    platform.link(WB_SELLER, CHAT, report_mode="alerts")
    # Stock big enough that 7 units are under 2 % of it: one report's own lines must still add up.
    scenario = platform.changed()
    seller = next(s for s in scenario["sellers"] if s["name"] == WB_SELLER)
    for stock in seller["stocks"]:
        stock["quantity"] *= 200
    platform.load_scenario(scenario)
    with plan_api(platform, WB_SELLER) as plan:
        try:
            assert platform.sync(WB_SELLER).success  # holds: quiet everywhere
            assert plan()["data_in_doubt"] == [] and not any(r["in_doubt"] for r in plan()["items"])
            assert set(plan_sheet_doubt(platform).values()) == {""}
            assert guard_alerts(platform) == []

            break_identities(platform, "wb_remains_total")
            assert platform.sync(WB_SELLER).success  # the sync still publishes
            found = plan()
            (finding,) = found["data_in_doubt"]
            assert (finding["marketplace"], finding["identity"]) == ("wildberries", "wb_remains_total")
            assert finding["reported"] - finding["expected"] == 7 < finding["expected"] * TOLERANCE_SHARE
            doubtful = {r["product_id"] for r in found["items"] if r["in_doubt"]}
            assert doubtful == {finding["product_id"]}
            sheet = plan_sheet_doubt(platform)
            assert sheet[finding["product_id"]] == "под сомнением"
            assert {v for p, v in sheet.items() if p != finding["product_id"]} == {""}
            (alert,) = guard_alerts(platform)
            assert "🧭 WB: данные маркетплейса не сходятся" in alert and "у товаров: 1." in alert

            assert platform.sync(WB_SELLER).success  # still broken: told once
            assert len(guard_alerts(platform)) == 1
        finally:
            break_identities(platform)

"""/plan: the tenant's supply plan as warehouse/supply_plan.py computes it, most urgent first,
paged with buttons, in the chat's language, and never another tenant's rows."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient

from settings import Settings
from tests.api.conftest import Row, Seller, register, seed_stock
from tests.bot.conftest import RunningBot, Tg, link, new_chat_id
from warehouse.app_db import session_factory
from warehouse.plans import PLANS
from warehouse.stock_reads import StockReader
from warehouse.supply_plan import plan_rows, tenant_plan, tenant_today
from warehouse.supply_settings import load_settings
from warehouse.tenants import get_tenant

LINE = re.compile(
    r"^(\d+)\. (?:⚠ )?<code>([^<]+)</code> · (\w+) · (.+): "
    r"<b>(\d+) (?:шт|units)</b> (?:до|by) (\S+) — ([^(]+) \((.+)\)$"
)
URGENCY_RU = {"overdue": "просрочено", "urgent": "срочно", "planned": "по плану", "ok": "хватает"}


def synced_rows(count: int) -> list[Row]:
    """`count` products selling 1/day (7 in the 7-day window) at WB's Коледино with i × 3 units,
    from 3 to 3 × count days of cover; one at an FBS warehouse; one with plenty."""
    rows = [
        Row(4000 + i, "Коледино", stock=3 * i, orders=7, article=f"PL-{i:02d}") for i in range(1, count + 1)
    ]
    rows.append(Row(5000, "Склад <продавца>", stock=1, orders=14, kind="FBS", article="OWN&1"))
    rows.append(Row(6000, "Казань", stock=900, orders=7, article="PLENTY"))
    return rows


def expected_plan(settings: Settings, tenant_id: str) -> list[dict]:
    with session_factory(settings.app_database_url)() as session:
        tenant = get_tenant(session, tenant_id)
        assert tenant is not None
        plan_settings, tz, tier = load_settings(session, tenant_id), tenant.timezone, tenant.tier
    with StockReader(settings.warehouse_url, tenant_id) as reader:
        return plan_rows(tenant_plan(reader, plan_settings, tenant_today(tz), PLANS[tier].products))


def parsed(text: str) -> list[tuple]:
    return [m.groups() for line in text.split("\n") if (m := LINE.match(line))]


def as_line(n: int, row: dict) -> tuple:
    ship_by = (
        date.fromisoformat(row["last_day_to_ship"]).strftime("%d.%m.%Y") if row["last_day_to_ship"] else "—"
    )
    source = "по заказам за 7 дн." if row["rate_source"] == "orders_7d" else row["rate_source"]
    return (
        str(n),
        row["article"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "Wildberries",
        row["destination"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        str(row["units_to_ship"]),
        ship_by,
        URGENCY_RU[row["urgency"]],
        source,
    )


def test_plan_lists_the_tenants_plan_most_urgent_first_in_pages(
    client: TestClient, settings: Settings, seller: Seller, bot: RunningBot, tg: Tg
) -> None:
    other = register(client, "Other Shop")
    seed_stock(settings, seller.tenant_id, synced_rows(12))
    seed_stock(settings, other.tenant_id, [Row(999, "Казань", stock=1, orders=70, article="SECRET-ART")])
    chat, other_chat = new_chat_id(), new_chat_id()
    link(client, tg, seller, chat)
    expected = expected_plan(settings, seller.tenant_id)
    assert len(expected) == 14 and expected[0]["urgency"] == "overdue"

    sent = [c for c in tg.ask(chat, "/plan") if c["ok"]][-1]
    text = sent["params"]["text"]
    assert text.startswith(
        f"<b>План поставок на {tenant_today('Europe/Moscow'):%d.%m.%Y}</b> — 14 (стр. 1/2)"
    )
    urgent = sum(1 for r in expected if r["urgency"] in ("overdue", "urgent"))
    assert f"Отгрузить в первую очередь: {urgent}" in text
    # Known by hand (target 30 days, leads WB 7 / FBS 2): PL-01 sells 1/day with 3 left → runs out
    # in 3 days, ship 7 − 3 = 4 days ago, 30 units; the own FBS warehouse sells 2/day with 1 left →
    # runs out today, ship 2 days ago, 60 units. HTML escaped.
    day = tenant_today("Europe/Moscow")
    assert (
        f"1. <code>PL-01</code> · Wildberries · Коледино: <b>30 шт</b> до "
        f"{(day - timedelta(days=4)):%d.%m.%Y} — просрочено (по заказам за 7 дн.)"
    ) in text
    assert (
        "2. <code>OWN&amp;1</code> · Wildberries · Склад &lt;продавца&gt; (FBS): <b>60 шт</b> до "
        f"{(day - timedelta(days=2)):%d.%m.%Y} — просрочено"
    ) in text
    assert sent["params"]["reply_markup"] == {"inline_keyboard": [[{"text": "▶", "callback_data": "plan:2"}]]}

    calls = tg.press(chat, sent["message_id"], "plan:2")
    assert [c["method"] for c in calls if c["ok"]] == ["editMessageText", "answerCallbackQuery"]
    page2 = calls[0]["params"]["text"]
    assert "(стр. 2/2)" in page2
    assert calls[0]["params"]["reply_markup"] == {
        "inline_keyboard": [[{"text": "◀", "callback_data": "plan:1"}]]
    }
    # Both pages together: exactly plan_rows, in its order.
    assert parsed(text) + parsed(page2) == [as_line(n, r) for n, r in enumerate(expected, start=1)]
    assert "SECRET-ART" not in text + page2

    # The other tenant's chat sees its own plan only.
    link(client, tg, other, other_chat)
    theirs = tg.answer(other_chat, "/plan")
    assert [line[1] for line in parsed(theirs)] == ["SECRET-ART"]
    assert "PL-01" not in theirs and "OWN" not in theirs


def test_plan_in_english_and_before_any_sync(
    client: TestClient, settings: Settings, seller: Seller, bot: RunningBot, tg: Tg
) -> None:
    chat = new_chat_id()
    link(client, tg, seller, chat)
    assert tg.answer(chat, "/plan").startswith("Данных ещё нет")
    seed_stock(settings, seller.tenant_id, synced_rows(2))
    menu = [c for c in tg.ask(chat, "/settings") if c["ok"]][-1]
    tg.press(chat, menu["message_id"], "set:lang:en")
    text = tg.answer(chat, "/plan")
    assert text.startswith("<b>Supply plan as of ") and "— 4 (page 1/1)" in text
    assert re.search(
        r"<code>PL-01</code> · Wildberries · .+: <b>\d+ units</b> by \S+ — overdue \(orders over 7 days\)",
        text,
    )
    assert "/plan — Supply plan" in tg.answer(chat, "/help")

"""Each command's answer against the stock model and the API's own rules: /status, /stock (and
another tenant's product is not found), /low paged with buttons, /settings, /export, /sync, /help."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from settings import Settings
from tests.api.conftest import Row, Seller, register, seed_stock
from tests.bot.conftest import RunningBot, Tg, link, new_chat_id
from warehouse.app_db import session_factory
from warehouse.models import SyncRun
from warehouse.sheet_files import tenant_folder
from warehouse.stock_reads import StockReader
from warehouse.telegram_chats import chat_by_telegram_id


def rows_for_low(count: int) -> list[Row]:
    # Product i sells 7 a week at "Коледино" with i units: i days of cover (window 7 days).
    rows = [Row(1000 + i, "Коледино", stock=i, orders=7, article=f"LOW-{i:02d}") for i in range(1, count + 1)]
    rows.append(Row(2000, "Казань", stock=0, orders=3, article="GONE-1"))  # out of stock where it sells
    rows.append(Row(3000, "Казань", stock=500, orders=1, article="PLENTY"))  # 3500 days: fine
    return rows


def test_stock_answers_from_the_model_and_never_another_tenants(
    client: TestClient, settings: Settings, seller: Seller, bot: RunningBot, tg: Tg
) -> None:
    other = register(client, "Other Shop")
    seed_stock(
        settings,
        seller.tenant_id,
        [
            Row(111, "Коледино", stock=40, orders=14, article="Its1_2_3/50g", title="Коллаген"),
            Row(
                111, "Fulllog <FBS>", stock=5, orders=0, kind="FBS", article="Its1_2_3/50g", title="Коллаген"
            ),
        ],
    )
    seed_stock(settings, other.tenant_id, [Row(999, "Казань", stock=7, orders=1, article="SECRET-ART")])
    chat = new_chat_id()
    link(client, tg, seller, chat)

    answer = tg.answer(chat, "/stock its1_2_3/50g")
    with StockReader(settings.warehouse_url, seller.tenant_id) as reader:
        places = {p["warehouse_name"]: p for p in reader.warehouses(111, "wildberries")}
    assert "<b>Its1_2_3/50g</b> · Wildberries 111" in answer
    assert "Всего: 45 шт · заказов за 7 дн.: 14" in answer
    assert f"Коледино: 40 шт · заказов 14 · {places['Коледино']['days_of_cover']:.1f} дн." in answer
    assert "Fulllog &lt;FBS&gt;: 5 шт · заказов 0" in answer  # escaped for Telegram's HTML
    assert tg.answer(chat, "/stock 111") == answer  # the nmID finds the same product
    # The other tenant's article and nmID: not found, as if they did not exist.
    assert tg.answer(chat, "/stock SECRET-ART") == "Товар «SECRET-ART» не найден"
    assert tg.answer(chat, "/stock 999") == "Товар «999» не найден"
    assert "Укажите товар" in tg.answer(chat, "/stock")


def test_low_lists_worst_first_and_pages_with_buttons(
    client: TestClient, settings: Settings, seller: Seller, bot: RunningBot, tg: Tg
) -> None:
    seed_stock(settings, seller.tenant_id, rows_for_low(13))  # 1..13 days of cover
    chat = new_chat_id()
    link(client, tg, seller, chat)
    # The chat's threshold starts at the tenant's (14 days): 13 below it plus the out-of-stock one.
    sent = [c for c in tg.ask(chat, "/low") if c["ok"]][-1]
    text = sent["params"]["text"]
    assert text.startswith("<b>Ниже порога 14 дн.</b> — 14 (стр. 1/2)")
    articles = re.findall(r"<code>([^<]+)</code>", text)
    assert articles == ["GONE-1"] + [f"LOW-{i:02d}" for i in range(1, 10)]
    assert "GONE-1</code> · Казань: 0 шт, заказов 3 — <b>нет в наличии</b>" in text
    assert "LOW-01</code> · Коледино: 1 шт, заказов 7 — <b>1.0 дн.</b>" in text
    assert sent["params"]["reply_markup"] == {"inline_keyboard": [[{"text": "▶", "callback_data": "low:2"}]]}

    calls = tg.press(chat, sent["message_id"], "low:2")
    methods = [c["method"] for c in calls if c["ok"]]
    assert methods == ["editMessageText", "answerCallbackQuery"]
    page2 = calls[0]["params"]["text"]
    assert "(стр. 2/2)" in page2
    assert re.findall(r"<code>([^<]+)</code>", page2) == ["LOW-10", "LOW-11", "LOW-12", "LOW-13"]
    assert calls[0]["params"]["reply_markup"] == {
        "inline_keyboard": [[{"text": "◀", "callback_data": "low:1"}]]
    }


def test_settings_buttons_change_the_chat(
    client: TestClient, settings: Settings, seller: Seller, bot: RunningBot, tg: Tg
) -> None:
    seed_stock(settings, seller.tenant_id, rows_for_low(13))
    chat = new_chat_id()
    link(client, tg, seller, chat)
    menu = [c for c in tg.ask(chat, "/settings") if c["ok"]][-1]
    assert "Порог: 14 дн." in menu["params"]["text"]
    tg.press(chat, menu["message_id"], "set:low:7")
    tg.press(chat, menu["message_id"], "set:mode:daily")
    tg.press(chat, menu["message_id"], "set:quiet:22-8")
    edited = tg.press(chat, menu["message_id"], "set:lang:en")
    assert edited[0]["params"]["text"].startswith(
        "<b>Chat settings</b>\nThreshold: 7 days\nReports: daily at 9:00"
    )
    assert [c["params"].get("text") for c in edited if c["method"] == "answerCallbackQuery"] == ["Saved"]
    with session_factory(settings.app_database_url)() as session:
        row = chat_by_telegram_id(session, chat)
        assert row is not None
        assert (row.low_cover_days, row.report_mode, row.quiet_start, row.quiet_end, row.language) == (
            7,
            "daily",
            22,
            8,
            "en",
        )
    # The new threshold and language apply at once.
    assert tg.answer(chat, "/low").startswith("<b>Below 7 days</b> — 7 (page 1/1)")


def test_status_shows_plan_trial_keys_and_last_sync(
    client: TestClient, settings: Settings, seller: Seller, bot: RunningBot, tg: Tg, scenario: dict
) -> None:
    chat = new_chat_id()
    link(client, tg, seller, chat)
    before = tg.answer(chat, "/status")
    assert "<b>Состояние «ООО Ромашка»</b>" in before
    assert "Тариф: Starter (trialing)" in before and "Пробный период до" in before
    assert "Ключи не подключены: /connect" in before

    wb = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")["credentials"]
    assert (
        client.post(
            "/api/v1/credentials/", json={"marketplace": "wildberries", **wb}, headers=seller.auth
        ).status_code
        == 201
    )
    seed_stock(settings, seller.tenant_id, [Row(1, "Коледино", stock=3, orders=1)])
    after = tg.answer(chat, "/status")
    assert "Wildberries: ключ действителен, истекает 01.01.2100" in after
    assert "Последняя успешная синхронизация:" in after and "(0 мин назад)" in after
    assert "Следующая по тарифу: ~" in after and "(каждые 2 ч)" in after


def test_export_sends_the_published_file(
    client: TestClient, settings: Settings, seller: Seller, bot: RunningBot, tg: Tg
) -> None:
    chat = new_chat_id()
    link(client, tg, seller, chat)
    assert "Данных ещё нет" in tg.answer(chat, "/export")
    published = tenant_folder(settings.output_dir, "ООО Ромашка") / "stock.xlsx"  # type: ignore[arg-type]
    published.parent.mkdir(parents=True)
    published.write_bytes(b"PK\x03\x04 the sheet as the last sync wrote it")
    sent = [c for c in tg.ask(chat, "/export") if c["ok"]][-1]
    assert sent["method"] == "sendDocument"
    assert sent["params"]["caption"] == "Таблица остатков «ООО Ромашка»"
    assert sent["files"][0]["filename"] == "stock.xlsx"
    assert tg.control.file(sent["files"][0]["file_id"]) == published.read_bytes()


def test_sync_follows_the_apis_rules(
    client: TestClient, settings: Settings, seller: Seller, bot: RunningBot, tg: Tg, scenario: dict
) -> None:
    chat = new_chat_id()
    link(client, tg, seller, chat)
    # The same refusals, in the same words, as POST /api/v1/sync/.
    assert tg.answer(chat, "/sync") == "Сначала подключите ключ Wildberries или Ozon"
    wb = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")["credentials"]
    client.post("/api/v1/credentials/", json={"marketplace": "wildberries", **wb}, headers=seller.auth)
    api = client.post("/api/v1/sync/", headers=seller.auth)
    assert api.status_code == 503  # no Dagster in this test
    assert tg.answer(chat, "/sync") == api.json()["error"]["message"]
    # The plan's manual syncs an hour (starter: 2) count the bot's and the API's together.
    with session_factory(settings.app_database_url)() as session:
        for minutes in (10, 20):
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
    refused = tg.answer(chat, "/sync")
    assert refused.startswith("На тарифе Starter можно запускать синхронизацию вручную 2 раз в час")
    assert client.post("/api/v1/sync/", headers=seller.auth).json()["error"]["code"] == "manual_sync_limit"


def test_help_and_the_menu(client: TestClient, seller: Seller, bot: RunningBot, tg: Tg) -> None:
    chat = new_chat_id()
    text = tg.answer(chat, "/help")
    for command in ("/status", "/sync", "/stock", "/low", "/report", "/export", "/settings", "/connect"):
        assert command in text
    menus = {b["username"]: b["commands"] for b in tg.control.bots()}["stock_tracker_7100001_bot"]
    by_language = {key.split("|")[1]: [c["command"] for c in value] for key, value in menus.items()}
    assert by_language[""][:3] == ["status", "sync", "stock"] and "report" in by_language["en"]

"""/connect takes a key like the API (checked with the marketplace first), deletes the message
holding it at once and never logs it; webhook updates need the secret; a chat that blocked the bot
is marked inactive."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
import uvicorn
from fastapi.testclient import TestClient
from telegram import Bot

from api.main import create_app
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.conftest import Seller
from tests.bot.conftest import TOKEN, WEBHOOK_SECRET, RunningBot, Tg, link, new_chat_id


def wb_token(scenario: dict) -> str:
    return next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")["credentials"]["token"]


def test_connect_stores_a_good_key_and_deletes_the_message(
    client: TestClient,
    seller: Seller,
    bot: RunningBot,
    tg: Tg,
    scenario: dict,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    chat = new_chat_id()
    link(client, tg, seller, chat)
    assert "Отправьте следующим сообщением ключ" in tg.answer(chat, "/connect")
    token = wb_token(scenario)
    before = len(tg.calls(chat))
    sent = tg.control.say(chat, token)
    calls = tg.wait(chat, before, expect=2)
    assert [c["method"] for c in calls if c["ok"]] == ["deleteMessage", "sendMessage"]
    assert calls[0]["params"]["message_id"] in (sent["message_id"], str(sent["message_id"]))
    assert sent["message_id"] in tg.control.outbox(chat)["deleted"]
    assert "Wildberries: ключ принят и сохранён" in calls[-1]["params"]["text"]
    status = client.get("/api/v1/credentials/status", headers=seller.auth).json()
    assert [s["marketplace"] for s in status if s["connected"]] == ["wildberries"]
    assert token not in caplog.text and TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


def test_connect_refuses_a_bad_key_with_the_marketplaces_reason(
    client: TestClient, seller: Seller, bot: RunningBot, tg: Tg, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chat = new_chat_id()
    link(client, tg, seller, chat)
    bad_key = "00000000-0000-0000-0000-000000000000"
    before = len(tg.calls(chat))
    sent = tg.control.say(chat, f"/connect 5003914 {bad_key}")  # Ozon, in one message
    calls = tg.wait(chat, before, expect=2)
    assert [c["method"] for c in calls if c["ok"]] == ["deleteMessage", "sendMessage"]
    assert sent["message_id"] in tg.control.outbox(chat)["deleted"]
    answer = calls[-1]["params"]["text"]
    # Word for word what the API answers for the same key.
    api = client.post(
        "/api/v1/credentials/",
        json={"marketplace": "ozon", "client_id": "5003914", "api_key": bad_key},
        headers=seller.auth,
    )
    assert answer == api.json()["error"]["message"] + "\nСообщение с ключом удалено."
    assert answer.startswith("Маркетплейс не принял ключ: Ozon")
    assert not any(
        s["connected"] for s in client.get("/api/v1/credentials/status", headers=seller.auth).json()
    )
    assert bad_key not in caplog.text
    # Not a key at all: said so, and still deleted.
    tg.answer(chat, "/connect")
    before = len(tg.calls(chat))
    junk = tg.control.say(chat, "one two three")
    calls = tg.wait(chat, before, expect=2)
    assert "Не похоже на ключ" in calls[-1]["params"]["text"]
    assert junk["message_id"] in tg.control.outbox(chat)["deleted"]


def test_keys_are_not_taken_in_groups(client: TestClient, seller: Seller, bot: RunningBot, tg: Tg) -> None:
    group = new_chat_id(group=True)
    link(client, tg, seller, group, title="Команда")
    assert "только в личном чате" in tg.answer(group, "/connect", title="Команда")


def test_a_blocked_chat_is_marked_inactive(
    client: TestClient, seller: Seller, bot: RunningBot, tg: Tg
) -> None:
    chat = new_chat_id()
    link(client, tg, seller, chat)
    tg.control.block(chat)
    tg.control.say(chat, "/status")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = client.get("/api/v1/telegram/chats", headers=seller.auth).json()
        if not listed[0]["active"]:
            break
        time.sleep(0.05)
    assert (listed[0]["active"], listed[0]["inactive_reason"]) == (False, "blocked")
    assert [(c["method"], c.get("error_code")) for c in tg.calls(chat)][-1] == ("sendMessage", 403)


class ServedApi:
    """The API on a loopback port (uvicorn), so the sandbox can POST webhook updates to it."""

    def __init__(self, settings: Settings) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="error")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    with ServedApi(settings) as url:
        yield url


def set_webhook(sandbox: SandboxServer, url: str, secret: str) -> None:
    base = sandbox.urls["telegram"]

    async def go() -> None:
        async with Bot(TOKEN, base_url=base + "/bot") as bot:
            await bot.set_webhook(url, secret_token=secret)

    asyncio.run(go())


def delete_webhook(sandbox: SandboxServer) -> None:
    base = sandbox.urls["telegram"]
    requests.post(f"{base}/bot{TOKEN}/deleteWebhook", json={"drop_pending_updates": True}, timeout=10)


def test_webhook_updates_need_the_secret(
    served: str, sandbox: SandboxServer, client: TestClient, seller: Seller, tg: Tg
) -> None:
    hook = served + "/api/v1/telegram/webhook"
    chat = new_chat_id()
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "X"},
            "from": {"id": chat, "is_bot": False, "first_name": "X"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        refused = requests.post(hook, json=update, headers=headers, timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_webhook_secret"
    assert tg.calls(chat) == []  # nothing processed, nothing sent
    try:
        # Registered with the secret, the sandbox delivers a user's message and the API answers it.
        set_webhook(sandbox, hook, WEBHOOK_SECRET)
        linked_chat = new_chat_id()
        code = client.post("/api/v1/telegram/link", headers=seller.auth).json()["url"].split("start=")[1]
        assert "привязан к «ООО Ромашка»" in tg.answer(linked_chat, f"/start {code}")
        assert "<b>Состояние «ООО Ромашка»</b>" in tg.answer(linked_chat, "/status")
        # Registered with a wrong secret: Telegram's deliveries are refused and stay pending.
        set_webhook(sandbox, hook, "not-the-secret")
        tg.control.say(linked_chat, "/help")
        deadline = time.monotonic() + 10
        info: dict = {}
        while time.monotonic() < deadline:
            info = requests.get(f"{sandbox.urls['telegram']}/bot{TOKEN}/getWebhookInfo", timeout=10).json()[
                "result"
            ]
            if info.get("last_error_message"):
                break
            time.sleep(0.05)
        assert "401" in info["last_error_message"] and info["pending_update_count"] == 1
    finally:
        delete_webhook(sandbox)


def test_a_key_sent_right_after_connect_is_taken_in_order(
    client: TestClient, seller: Seller, bot: RunningBot, tg: Tg, scenario: dict
) -> None:
    chat = new_chat_id()
    link(client, tg, seller, chat)
    before = len(tg.calls(chat))
    tg.control.say(chat, "/connect")
    sent = tg.control.say(chat, wb_token(scenario))  # no pause: a chat's updates keep their order
    calls = [c for c in tg.wait(chat, before, expect=3) if c["ok"]]
    assert [c["method"] for c in calls] == ["sendMessage", "deleteMessage", "sendMessage"]
    assert sent["message_id"] in tg.control.outbox(chat)["deleted"]
    assert "ключ принят" in calls[-1]["params"]["text"]


def test_the_key_reaches_another_bot_process_than_the_connect(
    client: TestClient, seller: Seller, settings: Settings, tg: Tg, scenario: dict
) -> None:
    """With several API workers taking webhook updates, /connect and the key can land in two
    processes: the wait for the key is the chat's, kept in the database."""
    chat = new_chat_id()
    first = RunningBot(settings).start()
    try:
        link(client, tg, seller, chat)
        assert "Отправьте следующим сообщением ключ" in tg.answer(chat, "/connect")
    finally:
        first.stop()
    second = RunningBot(settings).start()  # a fresh process: nothing of the first in memory
    try:
        before = len(tg.calls(chat))
        tg.control.say(chat, wb_token(scenario))
        calls = [c for c in tg.wait(chat, before, expect=2) if c["ok"]]
        assert [c["method"] for c in calls] == ["deleteMessage", "sendMessage"]
        assert "Wildberries: ключ принят и сохранён" in calls[-1]["params"]["text"]
        # The wait ends with the key: the next message is not taken for one.
        assert "/connect" in tg.answer(chat, "ещё одно сообщение")
    finally:
        second.stop()


def test_a_wait_for_the_key_runs_out(app_db: str) -> None:
    """A message written long after a bare /connect is not taken for a key."""
    from datetime import timedelta

    from warehouse.app_db import session_factory
    from warehouse.telegram_chats import AWAITING_KEY_TTL, await_key, link_chat, take_awaiting_key
    from warehouse.tenants import create_tenant

    with session_factory(app_db)() as session:
        tenant = create_tenant(session, "awaiting-key", "Ожидание ключа")
        link_chat(session, tenant.id, 5_550_001, kind="private")
        connected_at = datetime.now(UTC)
        await_key(session, 5_550_001, now=connected_at)
        late = connected_at + AWAITING_KEY_TTL + timedelta(seconds=1)
        assert not take_awaiting_key(session, 5_550_001, now=late)
        await_key(session, 5_550_001, now=connected_at)
        assert take_awaiting_key(session, 5_550_001, now=connected_at + timedelta(minutes=1))
        assert not take_awaiting_key(session, 5_550_001, now=connected_at + timedelta(minutes=1))

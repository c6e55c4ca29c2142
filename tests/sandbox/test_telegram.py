"""The Telegram Bot API stand-in driven by python-telegram-bot over real HTTP: updates by long poll
and by webhook with the secret header, sends with Telegram's limits and error shapes, buttons,
blocking, fault injection, and each chat's outbox."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
import requests
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from sandbox.server import SandboxServer
from sandbox.telegram.control import TelegramControl

TOKEN = "7000001:AAH" + "x" * 32
SCALE = 20.0  # 1 message/s per chat becomes 20/s
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(time_scale=SCALE) as running:
        yield running


@pytest.fixture
def control(server: SandboxServer) -> TelegramControl:
    return TelegramControl(server.control_url, TOKEN)


def bot_for(server: SandboxServer, token: str = TOKEN) -> Bot:
    base = server.urls["telegram"]
    return Bot(token, base_url=base + "/bot", base_file_url=base + "/file/bot")


def seconds(value: float | timedelta) -> float:
    # PTB 22 gives int/float seconds, timedelta with PTB_TIMEDELTA=1 (its next major's default).
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_updates_by_long_poll_with_offsets(server: SandboxServer, control: TelegramControl) -> None:
    async def scenario() -> None:
        async with bot_for(server) as bot:
            assert bot.username.endswith("_bot")
            assert await bot.get_updates(timeout=0) == ()
            # A long poll returns as soon as a user writes.
            threading.Timer(0.3, lambda: control.say(501, "/start")).start()
            started = time.monotonic()
            first = await bot.get_updates(timeout=5)
            assert time.monotonic() - started < 4
            assert first[0].message.text == "/start" and first[0].message.chat.type == "private"
            assert first[0].message.entities[0].type == "bot_command"
            control.say(501, "/help")
            # Without an offset the same updates come again; the offset confirms them.
            again = await bot.get_updates(timeout=0)
            assert [u.update_id for u in again] == [first[0].update_id, first[0].update_id + 1]
            rest = await bot.get_updates(offset=again[-1].update_id + 1, timeout=0)
            assert rest == ()

    run(scenario())


def test_sends_answer_with_messages_and_land_in_the_outbox(
    server: SandboxServer, control: TelegramControl
) -> None:
    async def scenario() -> None:
        async with bot_for(server) as bot:
            control.add_chats([{"id": 77, "type": "private"}])
            message = await bot.send_message(77, "<b>Остатки</b> &lt;5", parse_mode="HTML")
            assert message.text == "Остатки <5" and message.chat.id == 77
            await asyncio.sleep(1.2 / SCALE)
            photo = await bot.send_photo(77, PNG, caption="График")
            assert photo.photo[0].width == 1 and photo.caption == "График"
            await asyncio.sleep(1.2 / SCALE)
            document = await bot.send_document(77, b"PK\x03\x04xlsx", filename="stock.xlsx", caption="XLSX")
            assert document.document.file_name == "stock.xlsx"

    run(scenario())
    calls = control.sent(77)
    assert [c["method"] for c in calls] == ["sendMessage", "sendPhoto", "sendDocument"]
    assert calls[0]["params"]["text"] == "<b>Остатки</b> &lt;5"
    assert control.file(calls[1]["files"][0]["file_id"]) == PNG
    assert calls[2]["files"][0]["filename"] == "stock.xlsx"


def test_bad_html_long_texts_and_unknown_chats_get_telegrams_400(
    server: SandboxServer, control: TelegramControl
) -> None:
    async def scenario() -> None:
        async with bot_for(server) as bot:
            control.add_chats([{"id": 78, "type": "private"}])
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(78, "<b>open", parse_mode="HTML")
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(78, "Tom & Jerry", parse_mode="HTML")
            with pytest.raises(BadRequest, match=r"(?i)too long"):
                await bot.send_message(78, "я" * 4097)
            # Tags do not count: 4096 visible characters pass.
            await bot.send_message(78, "<b>" + "я" * 4096 + "</b>", parse_mode="HTML")
            await asyncio.sleep(1.2 / SCALE)
            with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
                await bot.send_photo(78, PNG, caption="x" * 1025)
            with pytest.raises(BadRequest, match=r"[Cc]hat not found"):
                await bot.send_message(123456789, "hello")

    run(scenario())


def test_a_chat_takes_one_message_a_second_and_a_group_20_a_minute() -> None:
    # Real speed for the chat (a second is long enough to stay inside on a loaded machine);
    # 10x for the group, so its minute is 6 s.
    with SandboxServer(time_scale=1.0) as server:
        TelegramControl(server.control_url, TOKEN).add_chats([{"id": 79, "type": "private"}])

        async def chat() -> None:
            async with bot_for(server) as bot:
                await bot.send_message(79, "one")
                with pytest.raises(RetryAfter) as second:
                    await bot.send_message(79, "two")
                assert seconds(second.value.retry_after) == 1  # whole seconds at real speed

        run(chat())
        refused = [c for c in TelegramControl(server.control_url).outbox(79)["calls"] if not c["ok"]]
        assert refused[0]["error_code"] == 429
    scale = 10.0
    with SandboxServer(time_scale=scale) as server:
        TelegramControl(server.control_url, TOKEN).add_chats([{"id": -1001, "type": "supergroup"}])

        async def group() -> None:
            async with bot_for(server) as bot:
                started = time.monotonic()
                for _ in range(20):  # a (scaled) second apart: the chat limit is kept
                    await bot.send_message(-1001, "group")
                    await asyncio.sleep(1.05 / scale)
                with pytest.raises(RetryAfter) as refused:
                    await bot.send_message(-1001, "21st")
                # The minute's first send leaves the window 60 s (scaled) after it went.
                wait = seconds(refused.value.retry_after)
                assert 0 < wait <= 60 / scale - (time.monotonic() - started) + 0.5

        run(group())


def test_the_bot_limit_is_30_per_second() -> None:
    with SandboxServer(time_scale=1.0) as server:
        control = TelegramControl(server.control_url, TOKEN)
        control.add_chats([{"id": 1000 + i, "type": "private"} for i in range(150)])

        async def one(bot: Bot, chat_id: int) -> str:
            try:
                await bot.send_message(chat_id, "hi")
            except RetryAfter as exc:
                assert seconds(exc.retry_after) == 1  # whole seconds at real speed
                return "429"
            return "ok"

        async def scenario() -> list[str]:
            base = server.urls["telegram"]
            request = HTTPXRequest(connection_pool_size=150)
            async with Bot(TOKEN, base_url=base + "/bot", request=request) as bot:
                # 150 at once to 150 chats: a burst of 30, then 30 a second.
                return list(await asyncio.gather(*(one(bot, 1000 + i) for i in range(150))))

        started = time.monotonic()
        outcomes = run(scenario())
        elapsed = time.monotonic() - started
    assert 30 <= outcomes.count("ok") <= 31 + 30 * elapsed
    # Unless the machine took the 4 s all 150 would need at 30 a second, some were refused.
    assert "429" in outcomes or elapsed > 150 / 30 - 1


def test_blocked_bot_gets_403(server: SandboxServer, control: TelegramControl) -> None:
    control.add_chats([{"id": 80, "type": "private"}, {"id": -1002, "type": "group", "title": "Склад"}])
    control.block(80)
    control.block(-1002)

    async def scenario() -> None:
        async with bot_for(server) as bot:
            with pytest.raises(Forbidden, match="blocked by the user"):
                await bot.send_message(80, "hi")
            with pytest.raises(Forbidden, match="kicked"):
                await bot.send_message(-1002, "hi")

    run(scenario())


def test_buttons_edits_answers_and_deletes(server: SandboxServer, control: TelegramControl) -> None:
    async def scenario() -> None:
        async with bot_for(server) as bot:
            control.say(81, "/low")
            updates = await bot.get_updates(timeout=0)
            user_message = updates[-1].message
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("→", callback_data="low:2")]])
            page = await bot.send_message(81, "page 1", reply_markup=keyboard)
            with pytest.raises(ValueError, match="no button"):
                control.press(81, page.message_id, "low:9")
            control.press(81, page.message_id, "low:2")
            press = (await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0))[0].callback_query
            assert press.data == "low:2" and press.message.message_id == page.message_id
            assert await press.answer()
            with pytest.raises(BadRequest, match=r"(?i)query is too old"):
                await press.answer()  # one answer per press
            edited = await bot.edit_message_text("page 2", chat_id=81, message_id=page.message_id)
            assert edited.text == "page 2"
            with pytest.raises(BadRequest, match=r"(?i)not modified"):
                await bot.edit_message_text("page 2", chat_id=81, message_id=page.message_id)
            assert await bot.delete_message(81, user_message.message_id)
            with pytest.raises(BadRequest, match=r"(?i)not found"):
                await bot.delete_message(81, user_message.message_id)

    run(scenario())
    outbox = control.outbox(81)
    assert outbox["deleted"] == [1]
    assert [c["method"] for c in outbox["calls"] if c["ok"]] == [
        "sendMessage",
        "answerCallbackQuery",
        "editMessageText",
        "deleteMessage",
    ]


def test_commands_menu_is_kept(server: SandboxServer, control: TelegramControl) -> None:
    async def scenario() -> None:
        async with bot_for(server) as bot:
            await bot.set_my_commands([("status", "Статус"), ("sync", "Синхронизировать")])
            await bot.set_my_commands([("status", "Status")], language_code="en")
            assert [c.command for c in await bot.get_my_commands()] == ["status", "sync"]
            assert [c.description for c in await bot.get_my_commands(language_code="en")] == ["Status"]
            with pytest.raises(BadRequest):
                await bot.set_my_commands([("Bad Command", "x")])

    run(scenario())


class Receiver:
    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.secrets: list[str | None] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.secrets.append(self.headers.get("X-Telegram-Bot-Api-Secret-Token"))
                if receiver.status == 200:
                    receiver.bodies.append(orjson.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_webhook_gets_updates_with_the_secret_and_redelivers_failures(
    server: SandboxServer, control: TelegramControl
) -> None:
    receiver = Receiver(status=500)

    async def scenario() -> None:
        async with bot_for(server) as bot:
            assert await bot.set_webhook(receiver.url, secret_token="s3cr3t-Token_1")
            with pytest.raises(Conflict):
                await bot.get_updates(timeout=0)
            control.say(82, "/status")
            deadline = time.monotonic() + 5
            while not receiver.secrets and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            info = await bot.get_webhook_info()
            assert info.pending_update_count == 1 and "500" in (info.last_error_message or "")
            receiver.status = 200
            while not receiver.bodies and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert await bot.delete_webhook()

    try:
        run(scenario())
    finally:
        receiver.server.shutdown()
    assert receiver.bodies[0]["message"]["text"] == "/status"
    assert set(receiver.secrets) == {"s3cr3t-Token_1"}


def test_faults_use_telegrams_shapes_and_the_log_hides_the_token(
    server: SandboxServer, control: TelegramControl
) -> None:
    control.add_chats([{"id": 83, "type": "private"}])
    faults = server.control_url + "/faults"
    requests.post(
        faults,
        json={"service": "telegram", "endpoint": "/sendMessage", "kind": "429", "count": 1, "retry_after": 3},
        timeout=10,
    )
    answer = requests.post(
        f"{server.urls['telegram']}/bot{TOKEN}/sendMessage", json={"chat_id": 83, "text": "x"}, timeout=10
    )
    assert answer.status_code == 429
    body = answer.json()
    assert body["ok"] is False and body["error_code"] == 429 and body["parameters"]["retry_after"] == 0.15
    requests.post(
        faults,
        json={"service": "telegram", "endpoint": "/sendMessage", "kind": "timeout", "count": 1, "delay": 2},
        timeout=10,
    )

    async def scenario() -> None:
        async with bot_for(server) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(83, "slow", read_timeout=0.5)

    run(scenario())
    log = requests.get(server.control_url + "/requests?service=telegram", timeout=10).json()
    assert {e["path"] for e in log} >= {"/sendMessage"}
    assert TOKEN.split(":")[1] not in orjson.dumps(log).decode()


def test_unknown_methods_and_malformed_tokens_are_404(server: SandboxServer) -> None:
    base = server.urls["telegram"]
    assert requests.post(f"{base}/bot{TOKEN}/sendPoll", timeout=10).json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found",
    }
    assert requests.post(f"{base}/botnot-a-token/getMe", timeout=10).status_code == 404

"""The bot against the Telegram sandbox over real HTTP: python-telegram-bot polls the sandbox (or
the sandbox POSTs to the API's webhook), users are played through the sandbox's control API, and
the answers are read from each chat's outbox. The app database, warehouse and marketplaces are the
API tests' (tests/api/conftest.py)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bot.app import ALLOWED_UPDATES, build_application
from api.main import create_app
from sandbox.server import SandboxServer
from sandbox.telegram.control import TelegramControl
from settings import Settings
from tests.api.conftest import (  # noqa: F401 - fixtures shared with the API tests
    Seller,
    app_db,
    make_settings,
    register,
    sandbox,
    scenario,
)

TOKEN = "7100001:AAH" + "z" * 32
WEBHOOK_SECRET = "hook-Secret_4242"
_chat_ids = itertools.count(int(time.time() * 1000) % 10**9 * 100)


def new_chat_id(group: bool = False) -> int:
    """A chat id no other test uses (the sandbox lives for the whole session)."""
    value = next(_chat_ids)
    return -(10**12 + value) if group else value


@pytest.fixture
def settings(tmp_path: Path, app_db: str, sandbox: SandboxServer) -> Settings:  # noqa: F811
    return make_settings(
        tmp_path,
        app_db,
        sandbox,
        telegram_bot_token=TOKEN,
        telegram_webhook_secret=WEBHOOK_SECRET,
        output_dir=tmp_path / "out",
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def seller(client: TestClient) -> Seller:
    return register(client)


class RunningBot:
    """`stock-tracker bot` in a thread: the Application polling the sandbox."""

    def __init__(self, settings: Settings) -> None:
        self.application = build_application(settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bot", daemon=True)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def start(self) -> RunningBot:
        self.thread.start()

        async def go() -> None:
            app = self.application
            await app.bot.delete_webhook(drop_pending_updates=True)
            await app.initialize()
            assert app.post_init is not None
            await app.post_init(app)
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES)
            await app.start()

        self._call(go())
        return self

    def stop(self) -> None:
        async def halt() -> None:
            app = self.application
            assert app.updater is not None
            await app.updater.stop()
            await app.stop()
            await app.shutdown()

        self._call(halt())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def bot(settings: Settings) -> Iterator[RunningBot]:
    running = RunningBot(settings).start()
    yield running
    running.stop()


class Tg:
    """Users writing to the bot, and what the bot answered in each chat."""

    def __init__(self, sandbox: SandboxServer) -> None:  # noqa: F811
        self.control = TelegramControl(sandbox.control_url, TOKEN)

    def calls(self, chat_id: int) -> list[dict[str, Any]]:
        try:
            return self.control.outbox(chat_id)["calls"]
        except Exception:
            return []

    def wait(self, chat_id: int, after: int, expect: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        """The calls on the chat after the first `after`, once `expect` of them succeeded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = self.calls(chat_id)[after:]
            if sum(1 for c in new if c["ok"]) >= expect:
                time.sleep(0.05)
                return self.calls(chat_id)[after:]
            time.sleep(0.02)
        raise AssertionError(f"the bot did not answer in chat {chat_id}: {self.calls(chat_id)[after:]}")

    def ask(self, chat_id: int, text: str, *, expect: int = 1, **kw: Any) -> list[dict[str, Any]]:
        before = len(self.calls(chat_id))
        self.control.say(chat_id, text, **kw)
        return self.wait(chat_id, before, expect)

    def answer(self, chat_id: int, text: str, **kw: Any) -> str:
        """The text of the bot's (last) message answering `text`."""
        calls = [c for c in self.ask(chat_id, text, **kw) if c["ok"] and c["method"] == "sendMessage"]
        return calls[-1]["params"]["text"]

    def press(self, chat_id: int, message_id: int, data: str, expect: int = 2) -> list[dict[str, Any]]:
        before = len(self.calls(chat_id))
        self.control.press(chat_id, message_id, data)
        return self.wait(chat_id, before, expect)


@pytest.fixture
def tg(sandbox: SandboxServer) -> Tg:  # noqa: F811
    return Tg(sandbox)


def link(client: TestClient, tg: Tg, seller: Seller, chat_id: int, **kw: Any) -> str:
    """Link a chat the way a seller does: a link from the API, `/start <code>` in the chat."""
    made = client.post("/api/v1/telegram/link", headers=seller.auth)
    assert made.status_code == 201, made.text
    code = made.json()["url"].split("start=", 1)[1]
    return tg.answer(chat_id, f"/start {code}", **kw)


# The report and alert tests' platform: a real sync through Dagster with the bot's sandbox chats.
from tests.bot.sync_platform import platform  # noqa: E402, F401

"""`stock-tracker bot` as an operator runs it: long polling against the (sandbox) Bot API, the menu
set at start; without a token it says which setting is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from settings import Settings
from tests.bot.conftest import TOKEN, Tg, new_chat_id

STOCK_TRACKER = str(Path(sys.executable).with_name("stock-tracker"))


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("STOCK_TRACKER_")},
        "STOCK_TRACKER_HOME": str(settings.home),
        "STOCK_TRACKER_APP_DATABASE_URL": settings.app_database_url,
        "STOCK_TRACKER_ENCRYPTION_KEYS": settings.encryption_keys,
        "STOCK_TRACKER_TELEGRAM_API_URL": settings.telegram_api_url,
        **extra,
    }


def test_without_a_token_it_names_the_setting(settings: Settings) -> None:
    done = subprocess.run(
        [STOCK_TRACKER, "bot"], env=env_for(settings), capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "STOCK_TRACKER_TELEGRAM_BOT_TOKEN is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_bot_polls_and_answers(settings: Settings, tg: Tg) -> None:
    process = subprocess.Popen(
        [STOCK_TRACKER, "bot"],
        env=env_for(settings, STOCK_TRACKER_TELEGRAM_BOT_TOKEN=TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        chat = new_chat_id()
        deadline = time.monotonic() + 90
        before = len(tg.calls(chat))
        tg.control.say(chat, "/help")
        answer = tg.wait(chat, before, timeout=max(1.0, deadline - time.monotonic()))
        assert "/status" in answer[-1]["params"]["text"]
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    assert TOKEN.split(":")[1] not in out + err  # the token is in every Bot API URL: never logged

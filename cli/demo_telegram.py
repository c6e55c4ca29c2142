"""The demo's Telegram: each demo tenant linked to a chat of the sandbox's Bot API, and afterwards
what each chat received written to `OUT/<seller>/telegram/` — `messages.json` (every Bot API call
on the chat in order: method, parameters, whether Telegram accepted it) and each photo and
document as sent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

# A token of the sandbox's shape (`<bot id>:<secret>`); the sandbox, never Telegram, sees it.
DEMO_BOT_TOKEN = "7000001:AAH" + "demo" * 8
DEMO_BOT_NAME = "stock_tracker_demo_bot"
FIRST_CHAT = 100_000_001
TOKEN_ENV = "STOCK_TRACKER_TELEGRAM_BOT_TOKEN"


@contextmanager
def demo_bot_token() -> Iterator[str]:
    """The demo bot's token in this process's environment while the demo runs (the sync's report
    step reads it from there, like a deployment's), then whatever was there before."""
    before = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = DEMO_BOT_TOKEN
    try:
        yield DEMO_BOT_TOKEN
    finally:
        if before is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = before


def link_demo_chats(control_url: str, session: Any, tenants: dict[str, str]) -> dict[str, int]:
    """A private sandbox chat per tenant (`tenant id → seller name`), linked to it."""
    from sandbox.telegram.control import TelegramControl
    from warehouse.telegram_chats import link_chat

    control = TelegramControl(control_url, DEMO_BOT_TOKEN)
    control.name_bot(DEMO_BOT_NAME)
    chats = {tenant: FIRST_CHAT + i for i, tenant in enumerate(tenants)}
    control.add_chats(
        [{"id": chat, "type": "private", "first_name": tenants[t][:60]} for t, chat in chats.items()]
    )
    for tenant, chat in chats.items():
        link_chat(session, tenant, chat, kind="private")
    return chats


def write_chat_log(control_url: str, chat_id: int, folder: Path) -> tuple[Path, int, int]:
    """`folder/messages.json` and the files sent; (its path, calls, files written)."""
    from sandbox.telegram.control import TelegramControl

    control = TelegramControl(control_url, DEMO_BOT_TOKEN)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():  # the files of an earlier demo would look like this one's
        old.unlink()
    calls, written = [], 0
    for call in control.outbox(chat_id)["calls"]:
        entry: dict[str, Any] = {"method": call["method"], "params": call["params"], "ok": call["ok"]}
        if not call["ok"]:
            entry["error"] = {"error_code": call.get("error_code"), "description": call.get("description")}
        saved = []
        for sent in call.get("files", []) if call["ok"] else []:
            written += 1
            name = f"{written:02d}-{call['method']}-{Path(sent['filename']).name}"
            (folder / name).write_bytes(control.file(sent["file_id"]))
            saved.append(name)
        if saved:
            entry["files"] = saved
        calls.append(entry)
    path = folder / "messages.json"
    path.write_bytes(orjson.dumps(calls, option=orjson.OPT_INDENT_2))
    return path, len(calls), written

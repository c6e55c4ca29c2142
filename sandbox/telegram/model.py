"""What the Telegram stand-in knows: bots (by token), chats with their messages and outboxes,
pending updates per bot, callback queries, webhooks and the flood limits.

Chats exist once a user wrote to the bot (an injected message) or the control API created them; a
send to any other chat id is Telegram's `400 chat not found`. A chat where the user blocked the bot
answers every send with `403 Forbidden`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.ratelimit import Limit, TokenBuckets
from sandbox.telegram.errors import BotApiError, bad_request, too_many_requests

TOKEN = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{20,}$")
# Telegram's flood limits (core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
BOT_LIMIT = Limit(1 / 30, 30)  # 30 messages per second per bot
CHAT_LIMIT = Limit(1.0, 1)  # one message per second per chat
# 20 messages per minute per group: a sliding minute, not a bucket (a bucket would let 20 through
# at once and then one every 3 s, 26+ in a minute).
GROUP_PER_MINUTE = 20


def now() -> int:
    return int(time.time())


@dataclass
class Bot:
    token_hash: str
    id: int
    username: str
    first_name: str = "Stock Tracker"
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 1
    webhook_url: str = ""
    webhook_secret: str | None = None
    webhook_last_error: tuple[int, str] | None = None
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # scope|lang -> commands
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}


@dataclass
class Chat:
    id: int
    type: str  # private, group, supergroup
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    blocked: bool = False
    migrated_to: int | None = None  # a group upgraded to this supergroup
    next_message_id: int = 1
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # message_id -> Message
    deleted: list[int] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)  # every Bot API call on this chat

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.first_name or "Seller"
            if self.username:
                out["username"] = self.username
        else:
            out["title"] = self.title or "Team"
        return out

    def new_message_id(self) -> int:
        self.next_message_id += 1
        return self.next_message_id - 1


@dataclass
class TelegramSandbox:
    bots: dict[str, Bot] = field(default_factory=dict)  # token -> bot
    chats: dict[int, Chat] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id -> (name, bytes)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {answered, chat_id}
    usernames: dict[str, str] = field(default_factory=dict)  # token -> username set by control
    buckets: TokenBuckets = field(default_factory=TokenBuckets)
    group_sends: dict[tuple[int, int], list[float]] = field(default_factory=dict)  # (bot, chat) -> times
    time_scale: float = 1.0

    # --- bots and chats -------------------------------------------------------------------

    def bot(self, token: str) -> Bot | None:
        match = TOKEN.match(token)
        if match is None:
            return None
        bot = self.bots.get(token)
        if bot is None:
            bot_id = int(match.group(1))
            username = self.usernames.get(token, f"stock_tracker_{bot_id}_bot")
            bot = self.bots[token] = Bot(hashlib.sha256(token.encode()).hexdigest(), bot_id, username)
        return bot

    def only_bot(self, token: str | None) -> Bot:
        if token:
            bot = self.bot(token)
            if bot is None:
                raise ValueError("not a bot token")
            return bot
        if len(self.bots) != 1:
            raise ValueError(f"give `token`: the sandbox knows {len(self.bots)} bots")
        return next(iter(self.bots.values()))

    def ensure_chat(self, spec: dict[str, Any]) -> Chat:
        chat_id = int(spec["id"])
        kind = spec.get("type") or ("private" if chat_id > 0 else "supergroup")
        if kind not in ("private", "group", "supergroup"):
            raise ValueError("chat type is private, group or supergroup")
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = Chat(chat_id, kind)
        chat.title = spec.get("title", chat.title)
        chat.first_name = spec.get("first_name", chat.first_name)
        chat.username = spec.get("username", chat.username)
        return chat

    def migrate(self, chat_id: int, new_id: int) -> Chat:
        """The group becomes a supergroup with a new id, as Telegram does on an upgrade."""
        old = self.chats[chat_id]
        if old.type != "group" or new_id in self.chats:
            raise ValueError("only a group migrates, to a new supergroup id")
        old.migrated_to = new_id
        return self.ensure_chat({"id": new_id, "type": "supergroup", "title": old.title})

    def chat(self, chat_id: Any) -> Chat:
        try:
            number = int(chat_id)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        chat = self.chats.get(number)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def writable_chat(self, chat_id: Any) -> Chat:
        chat = self.chat(chat_id)
        if chat.migrated_to is not None:
            raise BotApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.blocked:
            if chat.type == "private":
                raise BotApiError(403, "Forbidden: bot was blocked by the user")
            raise BotApiError(403, "Forbidden: bot was kicked from the group chat")
        return chat

    def check_flood(self, bot: Bot, chat: Chat) -> None:
        """Charge the bot, the chat and (groups) the group; any over its limit → 429 retry_after."""
        self.buckets.time_scale = self.time_scale
        checks = [(f"bot:{bot.id}", "bot", BOT_LIMIT), (f"chat:{bot.id}:{chat.id}", "chat", CHAT_LIMIT)]
        # Check all before charging any, so a refused send costs nothing.
        waits = [self._wait(account, group, limit) for account, group, limit in checks]
        minute = 60.0 / self.time_scale
        stamp = time.monotonic()
        recent: list[float] = []
        if chat.type != "private":
            recent = [t for t in self.group_sends.get((bot.id, chat.id), []) if stamp - t < minute]
            self.group_sends[(bot.id, chat.id)] = recent
            if len(recent) >= GROUP_PER_MINUTE:
                waits.append(recent[-GROUP_PER_MINUTE] + minute - stamp)
        worst = max(waits)
        if worst > 0:
            raise too_many_requests(worst, self.time_scale)
        for account, group, limit in checks:
            self.buckets.take(account, group, limit)
        if chat.type != "private":
            recent.append(stamp)

    def _wait(self, account: str, group: str, limit: Limit) -> float:
        tokens = self.buckets._refill((account, group), limit, time.monotonic())
        return 0.0 if tokens >= 1 else (1 - tokens) * limit.interval / self.time_scale

    # --- updates -------------------------------------------------------------------------

    def push_update(self, bot: Bot, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": bot.next_update_id, **payload}
        bot.next_update_id += 1
        bot.updates.append(update)
        bot.arrived.set()
        return update

    def user_message(
        self, bot: Bot, chat: Chat, sender: dict[str, Any], text: str, reply_to: int | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": chat.new_message_id(),
            "from": {"is_bot": False, "first_name": "Seller", **sender},
            "chat": chat.wire(),
            "date": now(),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None and reply_to in chat.messages:
            message["reply_to_message"] = chat.messages[reply_to]
        chat.messages[message["message_id"]] = message
        return self.push_update(bot, {"message": message})

    def press_button(
        self, bot: Bot, chat: Chat, sender: dict[str, Any], message_id: int, data: str
    ) -> dict[str, Any]:
        message = chat.messages.get(message_id)
        if message is None or message.get("from", {}).get("id") != bot.id:
            raise ValueError("no message of the bot with that id in the chat")
        buttons = [
            button.get("callback_data")
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in row
        ]
        if data not in buttons:
            raise ValueError(f"the message has no button with callback_data {data!r}")
        query_id = str(secrets.randbits(63))
        self.callbacks[query_id] = {"answered": False, "chat_id": chat.id, "at": time.monotonic()}
        query = {
            "id": query_id,
            "from": {"is_bot": False, "first_name": "Seller", **sender},
            "message": message,
            "chat_instance": str(abs(hash((bot.id, chat.id)))),
            "data": data,
        }
        return self.push_update(bot, {"callback_query": query})

    # --- messages the bot sends ------------------------------------------------------------

    def store_file(self, name: str, data: bytes) -> tuple[str, str]:
        digest = hashlib.sha256(data).hexdigest()
        file_id = "BQAC" + digest[:40]
        self.files[file_id] = (name, data)
        return file_id, digest[:16]

    def bot_message(self, bot: Bot, chat: Chat, fields: dict[str, Any]) -> dict[str, Any]:
        message = {
            "message_id": chat.new_message_id(),
            "from": bot.user(),
            "chat": chat.wire(),
            "date": now(),
        }
        message.update(fields)
        chat.messages[message["message_id"]] = message
        return message

    def record(
        self,
        chat_id: int | None,
        method: str,
        params: dict[str, Any],
        files: list[dict[str, Any]],
        outcome: dict[str, Any],
    ) -> None:
        chat = self.chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            return
        entry: dict[str, Any] = {"time": time.time(), "method": method, "params": params, **outcome}
        if files:
            entry["files"] = files
        chat.outbox.append(entry)

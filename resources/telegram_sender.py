"""The one way anything in the product sends a Telegram message: the bot's answers and the reports.

* Pacing under Telegram's flood limits (core.telegram.org/bots/faq): 30 messages a second per bot,
  one a second per chat and 20 a minute per group. Every clock starts when Telegram *answered* a
  send, so sends that bunched on the way (a stalled process, a slow network) can never look early
  to Telegram.
* 429: wait the `retry_after` Telegram gives and try again; longer than `max_wait`: deferred.
* 403 (the user blocked the bot, the bot left the group) and 400 `chat not found`: the chat is
  marked inactive (`on_inactive`) and nothing more is sent there. A group upgraded to a supergroup
  (400 with `migrate_to_chat_id`): the link moves to the new id (`on_migrated`), the send follows.
* Timeouts and connection errors: retried with exponential backoff (tenacity), then deferred.
* Nothing raises into the caller: every send returns a `SendResult` (sent / failed / deferred), so
  a report that cannot be delivered never fails the sync; a deferred one can be tried again later.
* Texts over 4096 characters are split at line breaks into several messages; captions over 1024
  are cut at a line break with "…" (lengths as Telegram counts them: visible characters in UTF-16).

The sender is asyncio (python-telegram-bot is); `BlockingTelegramSender` gives the same three
methods to synchronous code such as Dagster assets.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import threading
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.request import HTTPXRequest
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from settings import Settings

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
BOT_PER_SECOND = 30
CHAT_INTERVAL = 1.0
GROUP_PER_MINUTE = 20
# A 429 asking for longer than this is not waited out inside a sync: the send is deferred.
MAX_WAIT_SECONDS = 30.0
NETWORK_ATTEMPTS = 4
FIRST_BACKOFF_SECONDS = 0.5
TIMEOUT_SECONDS = 20.0

Status = Literal["sent", "failed", "deferred"]
Call = Callable[[int], Coroutine[Any, Any, Message]]  # one Bot API send to the given chat id


@dataclass(frozen=True)
class SendResult:
    """What became of one send. `reason`: `blocked`, `chat_not_found`, `inactive`, `bad_request`,
    `rate_limited`, `network`, `unauthorized`, `migrated` (None when sent)."""

    status: Status
    message_ids: tuple[int, ...] = ()
    reason: str | None = None
    detail: str | None = None  # Telegram's description; never holds the token

    @property
    def sent(self) -> bool:
        return self.status == "sent"

    @property
    def message_id(self) -> int | None:
        return self.message_ids[0] if self.message_ids else None


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _retry_after(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 warns that the type becomes timedelta
        return _seconds(exc.retry_after)


# --- lengths as Telegram counts them ------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")


def visible_length(text: str, parse_mode: str | None) -> int:
    """UTF-16 code units of what the user sees (Telegram's measure for its limits)."""
    shown = html.unescape(_TAG.sub("", text)) if parse_mode and parse_mode.upper() == "HTML" else text
    return len(shown.encode("utf-16-le")) // 2


def _hard_split(line: str, limit: int, parse_mode: str | None) -> list[str]:
    """A single line longer than the limit: cut it as plain text (HTML tags dropped, re-escaped)."""
    html_mode = bool(parse_mode and parse_mode.upper() == "HTML")
    plain = html.unescape(_TAG.sub("", line)) if html_mode else line
    pieces, piece = [], ""
    for char in plain:
        if len((piece + char).encode("utf-16-le")) // 2 > limit:
            pieces.append(piece)
            piece = ""
        piece += char
    pieces.append(piece)
    return [html.escape(p, quote=False) if html_mode else p for p in pieces if p]


def split_text(text: str, limit: int = TEXT_LIMIT, parse_mode: str | None = "HTML") -> list[str]:
    """Messages of at most `limit` visible characters, cut at line breaks (HTML tags must not span
    lines for the pieces to stay valid, which is how the product writes its messages)."""
    if visible_length(text, parse_mode) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if visible_length(candidate, parse_mode) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        if visible_length(line, parse_mode) <= limit:
            current = line
        else:
            *full, current = _hard_split(line, limit, parse_mode)
            chunks.extend(full)
    if current.strip():
        chunks.append(current)
    return [c for c in chunks if c.strip()]


def trim_caption(caption: str, limit: int = CAPTION_LIMIT, parse_mode: str | None = "HTML") -> str:
    """A caption cut at a line break to fit, ending in "…" when anything was cut."""
    if visible_length(caption, parse_mode) <= limit:
        return caption
    lines = caption.split("\n")
    while len(lines) > 1:
        lines.pop()
        candidate = "\n".join(lines) + "\n…"
        if visible_length(candidate, parse_mode) <= limit:
            return candidate
    return _hard_split(lines[0], limit - 1, parse_mode)[0] + "…"


# --- pacing ---------------------------------------------------------------------------------------


@dataclass
class _Pacer:
    """Slots under the three limits, in the sender's event loop."""

    scale: float
    # A send holds one of the bot's 30 places from its start until a second after Telegram's answer.
    # Then Telegram cannot have handled more than 30 of them in any second, however the requests
    # bunched on the way (a stalled process, a slow network): its limit is never hit. The cost is
    # the answer's latency: 30 sends per (1 s + latency).
    bot_places: asyncio.Semaphore | None = None
    chat_locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    chat_ready: dict[int, float] = field(default_factory=dict)  # chat -> monotonic not-before
    group_sent: dict[int, deque[float]] = field(default_factory=dict)  # chat -> answer times

    def lock(self, chat_id: int) -> asyncio.Lock:
        return self.chat_locks.setdefault(chat_id, asyncio.Lock())

    async def wait_turn(self, chat_id: int) -> None:
        """Called holding the chat's lock: wait for the chat, the group and a bot slot."""
        now = time.monotonic()
        ready = self.chat_ready.get(chat_id, 0.0)
        if chat_id < 0:
            sent = self.group_sent.setdefault(chat_id, deque(maxlen=GROUP_PER_MINUTE))
            if len(sent) == GROUP_PER_MINUTE:
                ready = max(ready, sent[0] + 60.0 / self.scale)
        if ready > now:
            await asyncio.sleep(ready - now)
        # The bot's place is taken last, so a chat's wait never holds a place others could use.
        if self.bot_places is None:
            self.bot_places = asyncio.Semaphore(BOT_PER_SECOND)
        await self.bot_places.acquire()

    def answered(self, chat_id: int) -> None:
        """Called once per `wait_turn`, when Telegram answered (or the request failed)."""
        assert self.bot_places is not None
        asyncio.get_running_loop().call_later(1.0 / self.scale, self.bot_places.release)
        now = time.monotonic()
        self.chat_ready[chat_id] = max(self.chat_ready.get(chat_id, 0.0), now + CHAT_INTERVAL / self.scale)
        if chat_id < 0:
            self.group_sent.setdefault(chat_id, deque(maxlen=GROUP_PER_MINUTE)).append(now)

    def pause_chat(self, chat_id: int, seconds: float) -> None:
        # Only the chat waits: a 429 in one chat says nothing certain about the others, and pausing
        # the whole bot would slow every other seller's report.
        self.chat_ready[chat_id] = max(self.chat_ready.get(chat_id, 0.0), time.monotonic() + seconds)


class _Deferred(Exception):
    def __init__(self, result: SendResult) -> None:
        super().__init__(result.reason)
        self.result = result


class TelegramSender:
    """Paced, retried sends through one python-telegram-bot `Bot` (async; share one per process)."""

    def __init__(
        self,
        bot: Bot,
        *,
        on_inactive: Callable[[int, str], Awaitable[None] | None] | None = None,
        on_migrated: Callable[[int, int], Awaitable[None] | None] | None = None,
        time_scale: float = 1.0,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        self.bot = bot
        self.on_inactive = on_inactive
        self.on_migrated = on_migrated
        self._moved: dict[int, int] = {}
        self.scale = time_scale
        self.max_wait = max_wait
        self._pacer = _Pacer(time_scale)
        self._inactive: dict[int, str] = {}
        self.counts: dict[str, int] = {"sent": 0, "failed": 0, "deferred": 0, "retry_after": 0}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        on_inactive: Callable[[int, str], Awaitable[None] | None] | None = None,
        connections: int = 64,
    ) -> TelegramSender:
        """A sender for the configured bot; `on_inactive` defaults to marking the chat in the app
        database (warehouse/telegram_chats.py)."""
        return cls(
            make_bot(settings, connections=connections),
            on_inactive=on_inactive or database_marker(settings.app_database_url),
            on_migrated=database_mover(settings.app_database_url),
            time_scale=settings.marketplace_time_scale,
        )

    async def __aenter__(self) -> TelegramSender:
        await self.bot.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.bot.shutdown()

    # --- the interface ---------------------------------------------------------------------

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> SendResult:
        """The text, split at line breaks into messages of at most 4096 characters (the keyboard
        goes on the last one). Sent means all parts were sent."""
        parts = split_text(text, TEXT_LIMIT, parse_mode)
        ids: list[int] = []
        for index, part in enumerate(parts):
            markup = reply_markup if index == len(parts) - 1 else None
            result = await self._send(
                chat_id,
                lambda target, part=part, markup=markup: self.bot.send_message(  # type: ignore[misc]
                    target, part, parse_mode=parse_mode, reply_markup=markup
                ),
            )
            if not result.sent:
                return SendResult(result.status, tuple(ids), result.reason, result.detail)
            ids.extend(result.message_ids)
        return SendResult("sent", tuple(ids))

    async def send_photo(
        self, chat_id: int, png: bytes, caption: str = "", *, parse_mode: str | None = "HTML"
    ) -> SendResult:
        cut = trim_caption(caption, CAPTION_LIMIT, parse_mode) if caption else None
        return await self._send(
            chat_id,
            lambda target: self.bot.send_photo(
                target, InputFile(png, filename="chart.png"), caption=cut, parse_mode=parse_mode
            ),
        )

    async def send_document(
        self, chat_id: int, data: bytes, filename: str, caption: str = "", *, parse_mode: str | None = "HTML"
    ) -> SendResult:
        cut = trim_caption(caption, CAPTION_LIMIT, parse_mode) if caption else None
        return await self._send(
            chat_id,
            lambda target: self.bot.send_document(
                target, InputFile(data, filename=filename), caption=cut, parse_mode=parse_mode
            ),
        )

    # --- one send ----------------------------------------------------------------------------

    async def _send(self, chat_id: int, call: Call, *, moved: bool = False) -> SendResult:
        chat_id = self._moved.get(chat_id, chat_id)
        if chat_id in self._inactive:
            return self._count(SendResult("failed", reason="inactive", detail=self._inactive[chat_id]))
        async with self._pacer.lock(chat_id):
            try:
                result = await self._attempts(chat_id, call)
            except _Deferred as deferred:
                result = deferred.result
            except RetryAfter as exc:  # still flooded after every attempt
                result = SendResult("deferred", reason="rate_limited", detail=str(exc))
            except NetworkError as exc:  # timeouts and resets after every attempt
                result = SendResult("deferred", reason="network", detail=type(exc).__name__)
            except Exception as exc:
                log.warning("telegram send failed: %s", type(exc).__name__)
                result = SendResult("failed", reason="error", detail=type(exc).__name__)
        if result.reason in ("blocked", "chat_not_found"):
            await self._deactivate(chat_id, str(result.reason))
        if result.reason == "migrated" and not moved:
            # A group became a supergroup with a new id: follow it, once.
            new_id = int(str(result.detail))
            self._moved[chat_id] = new_id
            await self._hook(self.on_migrated, chat_id, new_id)
            return await self._send(new_id, call, moved=True)
        return self._count(result)

    async def _attempts(self, chat_id: int, call: Call) -> SendResult:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(self._retryable),
            wait=self._wait,
            stop=stop_after_attempt(NETWORK_ATTEMPTS),
            reraise=True,
        ):
            with attempt:
                await self._pacer.wait_turn(chat_id)
                try:
                    message = await call(chat_id)
                except RetryAfter as exc:
                    self.counts["retry_after"] += 1
                    wait = _retry_after(exc)
                    self._pacer.pause_chat(chat_id, wait)
                    if wait > self.max_wait:
                        raise _Deferred(
                            SendResult("deferred", reason="rate_limited", detail=str(exc))
                        ) from None
                    raise
                except Forbidden as exc:
                    return SendResult("failed", reason="blocked", detail=exc.message)
                except ChatMigrated as exc:
                    return SendResult("failed", reason="migrated", detail=str(exc.new_chat_id))
                except BadRequest as exc:
                    reason = "chat_not_found" if "chat not found" in exc.message.lower() else "bad_request"
                    return SendResult("failed", reason=reason, detail=exc.message)
                except InvalidToken:
                    return SendResult("failed", reason="unauthorized", detail="the bot token was refused")
                finally:
                    self._pacer.answered(chat_id)
                return SendResult("sent", (message.message_id,))
        raise AssertionError("unreachable: tenacity returns or re-raises")  # pragma: no cover

    @staticmethod
    def _retryable(exc: BaseException) -> bool:
        # BadRequest is a NetworkError in PTB; it is answered above and never reaches here.
        return isinstance(exc, RetryAfter | NetworkError) and not isinstance(exc, BadRequest)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryAfter):
            return 0.0  # the pacer already holds the chat for retry_after
        return FIRST_BACKOFF_SECONDS * 2 ** (state.attempt_number - 1) / self.scale

    async def _deactivate(self, chat_id: int, reason: str) -> None:
        self._inactive[chat_id] = reason
        await self._hook(self.on_inactive, chat_id, reason)

    @staticmethod
    async def _hook(
        hook: Callable[[int, Any], Awaitable[None] | None] | None, chat_id: int, value: Any
    ) -> None:
        if hook is None:
            return
        try:
            outcome = hook(chat_id, value)
            if asyncio.iscoroutine(outcome):
                await outcome
        except Exception:  # the chat is still handled right in this process
            log.exception("could not record a Telegram chat's change")

    def _count(self, result: SendResult) -> SendResult:
        self.counts[result.status] += 1
        return result


def make_bot(settings: Settings, *, connections: int = 64) -> Bot:
    """python-telegram-bot's Bot for the configured API root (Telegram or the sandbox)."""
    if not settings.telegram_bot_token:
        raise ValueError("STOCK_TRACKER_TELEGRAM_BOT_TOKEN is not set")
    root = settings.telegram_api_url.rstrip("/")
    request = HTTPXRequest(
        connection_pool_size=connections,
        connect_timeout=10.0,
        read_timeout=TIMEOUT_SECONDS,
        write_timeout=TIMEOUT_SECONDS,
        pool_timeout=TIMEOUT_SECONDS,
    )
    return Bot(
        settings.telegram_bot_token,
        base_url=root + "/bot",
        base_file_url=root + "/file/bot",
        request=request,
    )


def database_marker(app_database_url: str) -> Callable[[int, str], Awaitable[None]]:
    """`on_inactive` that records the chat as inactive in the app database (off the event loop)."""

    def mark(chat_id: int, reason: str) -> None:
        from warehouse.app_db import session_factory
        from warehouse.telegram_chats import mark_inactive

        with session_factory(app_database_url)() as session:
            mark_inactive(session, chat_id, reason)

    async def run(chat_id: int, reason: str) -> None:
        await asyncio.to_thread(mark, chat_id, reason)

    return run


def database_mover(app_database_url: str) -> Callable[[int, int], Awaitable[None]]:
    """`on_migrated` that moves the chat's link to the supergroup's new id in the app database."""

    def move(chat_id: int, new_id: int) -> None:
        from warehouse.app_db import session_factory
        from warehouse.telegram_chats import move_chat

        with session_factory(app_database_url)() as session:
            move_chat(session, chat_id, new_id)

    async def run(chat_id: int, new_id: int) -> None:
        await asyncio.to_thread(move, chat_id, new_id)

    return run


class BlockingTelegramSender:
    """The same three sends for synchronous code: a private event loop in a daemon thread."""

    def __init__(self, sender: TelegramSender) -> None:
        self.sender = sender
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="telegram-sender", daemon=True)
        self._thread.start()
        self._run(self.sender.bot.initialize())

    @classmethod
    def from_settings(cls, settings: Settings) -> BlockingTelegramSender:
        return cls(TelegramSender.from_settings(settings))

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> SendResult:
        return self._run(
            self.sender.send_message(chat_id, text, parse_mode=parse_mode, reply_markup=reply_markup)
        )

    def send_photo(
        self, chat_id: int, png: bytes, caption: str = "", *, parse_mode: str | None = "HTML"
    ) -> SendResult:
        return self._run(self.sender.send_photo(chat_id, png, caption, parse_mode=parse_mode))

    def send_document(
        self, chat_id: int, data: bytes, filename: str, caption: str = "", *, parse_mode: str | None = "HTML"
    ) -> SendResult:
        return self._run(self.sender.send_document(chat_id, data, filename, caption, parse_mode=parse_mode))

    def close(self) -> None:
        self._run(self.sender.bot.shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> BlockingTelegramSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

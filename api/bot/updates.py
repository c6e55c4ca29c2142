"""Updates of different chats run side by side; one chat's updates run in the order they came.

Sequential processing (PTB's default) would let one chat's paced answers (one message a second)
hold up every other chat; fully concurrent processing could take a `/connect` key before the
`/connect` that asks for it. Hence a lock per chat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

MAX_CONCURRENT_UPDATES = 64


class PerChatOrder(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._waiting[chat.id] = self._waiting.get(chat.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[chat.id] -= 1
            if not self._waiting[chat.id]:  # forget idle chats: the map stays as small as the traffic
                del self._waiting[chat.id]
                self._locks.pop(chat.id, None)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

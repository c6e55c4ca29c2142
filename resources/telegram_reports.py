"""Telegram for Dagster (reports and alerts after each sync): the one paced sender of
resources/telegram_sender.py, pointed at Telegram or the sandbox by settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dagster import ConfigurableResource

from settings import Settings

if TYPE_CHECKING:
    from resources.telegram_sender import BlockingTelegramSender


class TelegramReports(ConfigurableResource):
    app_database_url: str
    api_url: str = "https://api.telegram.org"
    # Where the bot token is: never the token itself, which would show in the Dagster UI.
    token_env: str = "STOCK_TRACKER_TELEGRAM_BOT_TOKEN"
    time_scale: float = 1.0

    def configured(self) -> bool:
        """A bot token is set; without one there is no bot, and no reports."""
        return bool(os.environ.get(self.token_env))

    @contextmanager
    def sender(self) -> Iterator[BlockingTelegramSender]:
        # python-telegram-bot and httpx load only when there is something to send: every run
        # process imports this module, most tenants link no chat (bench/bench_fleet.py).
        from resources.telegram_sender import (
            BlockingTelegramSender,
            TelegramSender,
            database_marker,
            make_bot,
        )

        # make_bot reads only the API root and the token from the settings.
        settings = Settings.model_construct(
            telegram_api_url=self.api_url, telegram_bot_token=os.environ.get(self.token_env, "")
        )
        sender = BlockingTelegramSender(
            TelegramSender(
                make_bot(settings, connections=8),
                on_inactive=database_marker(self.app_database_url),
                time_scale=self.time_scale,
            )
        )
        try:
            yield sender
        finally:
            sender.close()

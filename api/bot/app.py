"""The bot as a python-telegram-bot Application, for long polling (`stock-tracker bot`) or for the
API's webhook route (`BotHolder`), pointed at Telegram or the sandbox by settings."""

from __future__ import annotations

import asyncio
import logging

from telegram import BotCommand, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from api.bot import handlers, report_command
from api.bot.texts import COMMANDS
from api.bot.updates import PerChatOrder
from api.dagster_client import DagsterClient
from resources.telegram_sender import TIMEOUT_SECONDS, TelegramSender, database_marker, database_mover
from settings import Settings

ALLOWED_UPDATES = ["message", "callback_query"]


def quiet_library_logs() -> None:
    """httpx logs every request URL at INFO, and the Bot API URL holds the bot's token; PTB logs
    whole updates (a /connect message holds a key) at DEBUG. Neither may reach the logs."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(logging.INFO)


def build_application(settings: Settings, *, polling: bool = True) -> Application:  # type: ignore[type-arg]
    """The bot with every command registered; without `polling` updates come from the webhook."""
    if not settings.telegram_bot_token:
        raise ValueError("STOCK_TRACKER_TELEGRAM_BOT_TOKEN is not set")
    quiet_library_logs()
    root = settings.telegram_api_url.rstrip("/")
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .base_url(root + "/bot")
        .base_file_url(root + "/file/bot")
        .connection_pool_size(32)
        .read_timeout(TIMEOUT_SECONDS)
        .write_timeout(TIMEOUT_SECONDS)
        .post_init(set_commands)
        .concurrent_updates(PerChatOrder())
    )
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    sender = TelegramSender(
        application.bot,
        on_inactive=database_marker(settings.app_database_url),
        on_migrated=database_mover(settings.app_database_url),
        time_scale=settings.marketplace_time_scale,
    )
    application.bot_data[handlers.CONTEXT_KEY] = handlers.BotContext(
        settings, sender, DagsterClient(settings.dagster_graphql_url)
    )
    register(application)
    return application


def register(application: Application) -> None:  # type: ignore[type-arg]
    for name, callback in (
        ("start", handlers.start),
        ("stop", handlers.stop),
        ("help", handlers.help_command),
        ("status", handlers.status),
        ("sync", handlers.sync),
        ("stock", handlers.stock),
        ("low", handlers.low),
        ("plan", handlers.plan),
        ("report", report_command.report),
        ("export", handlers.export),
        ("settings", handlers.settings_command),
        ("connect", handlers.connect),
    ):
        application.add_handler(CommandHandler(name, callback))
    application.add_handler(CallbackQueryHandler(handlers.low_page, pattern=r"^low:\d{1,6}$"))
    application.add_handler(CallbackQueryHandler(handlers.plan_page, pattern=r"^plan:\d{1,6}$"))
    application.add_handler(
        CallbackQueryHandler(handlers.settings_button, pattern=r"^set:[a-z]+:[a-z0-9_-]+$")
    )
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, handlers.text_message)
    )
    application.add_error_handler(handlers.on_error)


async def set_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The menu in Russian for everyone and in English for English-speaking users."""
    await application.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["ru"]])
    await application.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["en"]], language_code="en")


async def set_webhook(application: Application, url: str, secret: str) -> None:  # type: ignore[type-arg]
    await application.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)


class BotHolder:
    """The API's bot for webhook updates and link URLs, initialised on first use (getMe, the menu),
    so the API starts even while Telegram is away."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._application: Application | None = None  # type: ignore[type-arg]
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.telegram_bot_token)

    async def application(self) -> Application:  # type: ignore[type-arg]
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Its HTTP client belongs to the loop that made it (a test client makes a loop per
            # client): start afresh in this one.
            self._application, self._lock, self._loop = None, asyncio.Lock(), loop
        assert self._lock is not None
        async with self._lock:
            if self._application is None:
                application = build_application(self.settings, polling=False)
                await application.initialize()
                if application.post_init:
                    await application.post_init(application)
                self._application = application
        return self._application

    async def username(self) -> str:
        return (await self.application()).bot.username

    async def process(self, data: dict[str, object]) -> None:
        application = await self.application()
        await application.process_update(Update.de_json(data, application.bot))

    async def close(self) -> None:
        if self._application is not None and self._loop is asyncio.get_running_loop():
            await self._application.shutdown()
        self._application, self._lock, self._loop = None, None, None

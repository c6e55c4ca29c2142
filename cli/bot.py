"""`stock-tracker bot`: the seller's Telegram bot by long polling, or register the API's webhook."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from settings import get_settings

# deploy/docker-compose.yml's health check: the bot is alive while this file is fresh.
ALIVE_FILE = "/tmp/stock-tracker-bot.alive"
HEARTBEAT_SECONDS = 30


async def heartbeat(path: Path) -> None:
    while True:
        path.touch()
        await asyncio.sleep(HEARTBEAT_SECONDS)


@click.command("bot")
@click.option(
    "--webhook-url",
    default=None,
    metavar="URL",
    help="Instead of polling: register URL (the API's /api/v1/telegram/webhook) with Telegram and exit.",
)
def bot_command(webhook_url: str | None) -> None:
    """Run the Telegram bot (long polling) until stopped, or register the webhook the API serves."""
    from api.bot.app import build_application, set_commands, set_webhook
    from warehouse.app_db import migrate

    settings = get_settings()
    if not settings.telegram_bot_token:
        raise click.ClickException(
            "STOCK_TRACKER_TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather"
        )
    migrate(settings.app_database_url)
    if webhook_url:
        secret = settings.telegram_webhook_secret
        if not secret:
            raise click.ClickException(
                "STOCK_TRACKER_TELEGRAM_WEBHOOK_SECRET is not set: updates must be signed"
            )

        async def register() -> None:
            application = build_application(settings, polling=False)
            async with application:
                await set_webhook(application, webhook_url, secret)
                await set_commands(application)

        asyncio.run(register())
        click.echo(f"webhook registered: {webhook_url}", err=True)
        return
    application = build_application(settings)

    async def startup(app: Any) -> None:
        await set_commands(app)
        app.create_task(heartbeat(Path(ALIVE_FILE)))

    application.post_init = startup
    click.echo("Telegram bot polling; Ctrl+C stops", err=True)
    # run_polling deletes a registered webhook first: one of the two ways at a time.
    application.run_polling(allowed_updates=["message", "callback_query"])

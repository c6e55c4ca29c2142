"""`/report` through python-telegram-bot and the sandbox: the latest report now, for the chat's
own tenant only, with the chart; an unlinked chat is told how to link."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

from PIL import Image

from api.bot.app import BotHolder
from api.bot.report import facts_for, tenant_grids
from tests.bot.sync_platform import BOTH_SELLER, WB_SELLER, Platform

WB_CHAT, BOTH_CHAT, STRANGER = 701, 702, 703


def ask(platform: Platform, chat_id: int, text: str) -> None:
    """The user writes `text`; the bot fetches the update (getUpdates) and handles it."""
    platform.telegram.say(chat_id, text)

    async def handle() -> None:
        holder = BotHolder(platform.settings)
        try:
            application = await holder.application()
            for update in await application.bot.get_updates(timeout=0):
                await application.process_update(update)
            await application.bot.get_updates(offset=update.update_id + 1, timeout=0)  # confirm
        finally:
            await holder.close()

    asyncio.run(handle())


def test_report_command_sends_the_latest_report_of_the_chats_tenant(platform: Platform) -> None:
    platform.link(WB_SELLER, WB_CHAT, report_mode="alerts")
    platform.link(BOTH_SELLER, BOTH_CHAT, report_mode="alerts", language="en")
    platform.telegram.add_chats([{"id": STRANGER, "type": "private"}])
    assert platform.sync(WB_SELLER).success
    assert platform.sync(BOTH_SELLER).success
    before = {chat: len(platform.sent(chat)) for chat in (WB_CHAT, BOTH_CHAT)}

    for chat in (WB_CHAT, BOTH_CHAT, STRANGER):
        ask(platform, chat, "/report")

    for chat, tenant_id, locale in ((WB_CHAT, WB_SELLER, "ru"), (BOTH_CHAT, BOTH_SELLER, "en")):
        new = platform.sent(chat)[before[chat] :]
        assert [m for m, _ in new] == ["sendMessage", "sendPhoto"]
        tenant = platform.tenants()[tenant_id]
        with platform.reader(tenant_id) as reader:
            grids, left_out = tenant_grids(reader.metrics(), tenant)
        facts = facts_for(grids, tenant, datetime.now(UTC), left_out)
        text = new[0][1]["text"]
        assert tenant.name in text
        products = "Товаров" if locale == "ru" else "Products"
        assert f"{products}: {facts.totals.products}" in text
        for place in facts.urgent(14)[:10]:
            assert f"<code>{place.product_id}</code>" in text
        call = platform.telegram.sent(chat)[before[chat] + 1]
        png = platform.telegram.file(call["files"][0]["file_id"])
        assert Image.open(io.BytesIO(png)).format == "PNG"
    # Each chat sees only its tenant: the WB seller's chat never names the other seller.
    assert all(
        platform.tenants()[BOTH_SELLER].name not in p.get("text", "") for _, p in platform.sent(WB_CHAT)
    )

    (answer,) = platform.sent(STRANGER)
    assert answer[0] == "sendMessage" and "не привязан" in answer[1]["text"]

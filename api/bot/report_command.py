"""`/report`: the latest report now — the same text, chart and caption a sync sends, built from
the tenant's current stock model for this chat (its language, threshold and time zone)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from telegram import Update
from telegram.ext import ContextTypes

from api.bot import views
from api.bot.chart import render_chart
from api.bot.handlers import _linked, bot_context, guarded
from api.bot.report import Totals, facts_for, report_caption, report_text, tenant_grids, text, urgent_history
from settings import Settings
from warehouse.app_db import session_factory
from warehouse.stock_reads import StockReader, WarehouseBusy
from warehouse.telegram_deliveries import last_totals
from warehouse.tenants import active_tenants

BUSY = {
    "ru": "Данные как раз обновляются синхронизацией. Повторите /report через минуту.",
    "en": "A sync is updating the data right now. Try /report again in a minute.",
}


@dataclass(frozen=True)
class LatestReport:
    text: str
    caption: str = ""
    png: bytes | None = None


def latest_report(settings: Settings, chat: views.Chat, now: datetime | None = None) -> LatestReport:
    now = now or datetime.now(UTC)
    with session_factory(settings.app_database_url)() as session:
        tenant = next((t for t in active_tenants(session) if t.id == chat.tenant_id), None)
        previous = Totals.from_json(last_totals(session, chat.tenant_id, chat.chat_id))
    if tenant is None:
        return LatestReport(text("empty", chat.language))
    try:
        with StockReader(settings.warehouse_url, tenant.id) as reader:
            metrics = reader.metrics()
            if not metrics:
                return LatestReport(text("empty", chat.language))
            stamps = reader.product_totals().frame["snapshot_at"].drop_nulls()
            synced = stamps.max() if len(stamps) else now  # the report is as of the last sync
            grids, left_out = tenant_grids(metrics, tenant)
            facts = facts_for(grids, tenant, synced, left_out)  # type: ignore[arg-type]
            history = urgent_history(reader, facts, chat.low_cover_days, now)
    except WarehouseBusy:
        return LatestReport(BUSY.get(chat.language, BUSY["ru"]))
    language, threshold, zone = chat.language, chat.low_cover_days, chat.timezone
    chart = render_chart(facts, threshold=threshold, locale=language, timezone=zone, history=history)
    return LatestReport(
        report_text(facts, locale=language, threshold=threshold, timezone=zone, previous=previous),
        report_caption(facts, locale=language, timezone=zone, previous=previous),
        chart.png,
    )


@guarded
async def report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = await _linked(update, context)
    if chat is None:
        return
    ctx = bot_context(context)
    latest = await asyncio.to_thread(latest_report, ctx.settings, chat)
    sent = await ctx.sender.send_message(chat.chat_id, latest.text)
    if sent.sent and latest.png is not None:
        await ctx.sender.send_photo(chat.chat_id, latest.png, latest.caption)

"""The supply plan in the sync report (DESIGN §6b, docs/supply-plan.md): the "ship first" block
(rows whose last day to ship has passed or is within a week) and the guard's findings, which
api/bot/alerts.py turns into a once-only `data_in_doubt` alert.

Read once per sync from the same functions `/plan` and the API use; a failure here leaves the
report as it was (no block), it never stops it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from api.bot.report import MARKETPLACE_SHORT, ReportFacts, number, text
from api.bot.texts import t
from warehouse.plans import PLANS
from warehouse.stock_reads import StockReader
from warehouse.supply_guard import guard_findings
from warehouse.supply_plan import tenant_plan, tenant_today, urgent_rows
from warehouse.supply_settings import load_settings
from warehouse.tenants import TenantInfo

log = logging.getLogger(__name__)
SHIP_FIRST_SHOWN = 5  # the rest is one `/plan` away; five lines stay far inside 4096 characters


def with_supply(
    facts: ReportFacts, session: Session, reader: StockReader, tenant: TenantInfo, at: datetime
) -> ReportFacts:
    """`facts` with the plan's ship-first rows and the guard's findings of this sync."""
    try:
        settings = load_settings(session, tenant.id)
        plan = tenant_plan(reader, settings, tenant_today(tenant.timezone, at), PLANS[tenant.tier].products)
        urgent = urgent_rows(plan)
        findings = guard_findings(reader)
    except Exception as exc:  # the report goes out without the block rather than not at all
        log.error("supply plan for the report of %s failed: %s", tenant.id, type(exc).__name__)
        return facts
    return replace(
        facts,
        ship_first=tuple(urgent[:SHIP_FIRST_SHOWN]),
        ship_first_total=len(urgent),
        guard=tuple(findings),
    )


def ship_first_lines(facts: ReportFacts, locale: str) -> list[str]:
    """The block: a title, the most urgent rows, "…and N more: /plan". Empty when nothing is due."""
    if not facts.ship_first:
        return []
    lines = ["<b>🚚 " + text("ship_first", locale, n=number(facts.ship_first_total, locale)) + "</b>"]
    for i, row in enumerate(facts.ship_first, 1):
        lines.append(f"{i}. {ship_line(row, locale)}")
    rest = facts.ship_first_total - len(facts.ship_first)
    if rest > 0:
        lines.append(text("ship_more", locale, n=number(rest, locale)))
    return lines


def ship_line(row: dict[str, Any], locale: str) -> str:
    """`Its1/50g <code>111</code> → WB · Склад WB: 60 шт. до 28.11.2026 (просрочено)`, escaped."""
    day = row["last_day_to_ship"]
    return text(
        "ship_line",
        locale,
        doubt="⚠ " if row["in_doubt"] else "",
        article=escape(str(row["article"] or row["product_id"])[:60]),
        product=int(row["product_id"]),
        marketplace=MARKETPLACE_SHORT.get(row["marketplace"], row["marketplace"]),
        destination=escape(str(row["destination"])[:80]),
        units=number(int(row["units_to_ship"]), locale),
        date=date.fromisoformat(day).strftime("%d.%m.%Y") if day else "—",
        urgency=t(f"urgency_{row['urgency']}", locale),
    )

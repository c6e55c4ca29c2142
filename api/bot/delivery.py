"""After a sync: what each linked chat gets, queued once, then sent (DESIGN §6b).

`after_sync` decides per active chat — the report (every sync), the daily digest (first sync at or
after the chat's local hour), the alerts that started — and queues each as a delivery keyed so a
retried run queues nothing new (warehouse/telegram_deliveries.py). `send_due` sends what is due
through the one paced sender; a send that fails stays queued with a backoff and the
`telegram_deliveries` sensor tries again, so nothing here ever fails a sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.bot.alerts import (
    ACCOUNT_KINDS,
    GUARD_KINDS,
    STOCK_KINDS,
    Condition,
    account_conditions,
    alert_text,
    guard_conditions,
    quiet_until,
    stock_conditions,
)
from api.bot.chart import Chart, render_chart
from api.bot.report import ReportFacts, Totals, report_caption, report_text
from warehouse.models import TelegramChat, TelegramDelivery, utcnow
from warehouse.telegram_chats import active_chats, chat_by_telegram_id
from warehouse.telegram_deliveries import (
    Part,
    arm_and_fire,
    due,
    has_key,
    last_totals,
    queue,
    record_failure,
    record_progress,
)

log = logging.getLogger(__name__)
# A send that cannot succeed later: the chat is gone or blocked the bot, or Telegram refused it.
FINAL_REASONS = ("blocked", "chat_not_found", "inactive", "bad_request", "migrated", "unauthorized")


class Sender(Protocol):
    """resources/telegram_sender.py's BlockingTelegramSender (synchronous, never raises)."""

    def send_message(self, chat_id: int, text: str, *, parse_mode: str | None = "HTML") -> Any: ...

    def send_photo(
        self, chat_id: int, png: bytes, caption: str = "", *, parse_mode: str | None = "HTML"
    ) -> Any: ...


@dataclass
class Outcome:
    queued: dict[str, int] = field(default_factory=lambda: {"report": 0, "digest": 0, "alert": 0})
    alerts_fired: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    chart_seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "reports_queued": self.queued["report"],
            "digests_queued": self.queued["digest"],
            "alert_messages_queued": self.queued["alert"],
            "alerts_fired": self.alerts_fired,
            "deliveries_sent": self.sent,
            "deliveries_to_retry": self.deferred,
            "deliveries_failed": self.failed,
            "chart_render_ms": round(1000 * max(self.chart_seconds), 1) if self.chart_seconds else 0.0,
        }


def local_now(now: datetime, timezone: str) -> datetime:
    try:
        return now.astimezone(ZoneInfo(timezone))
    except (KeyError, ValueError):
        return now.astimezone(ZoneInfo("Europe/Moscow"))


def report_key(chat: TelegramChat, run_key: str, now: datetime) -> tuple[str, str] | None:
    """(kind, key) of the report this sync owes the chat, if any."""
    if chat.report_mode == "every_sync":
        return "report", f"report:{run_key}"
    if chat.report_mode == "daily":
        local = local_now(now, chat.timezone)
        if local.hour >= chat.daily_hour:
            return "digest", f"digest:{local.date().isoformat()}"
    return None


def after_sync(
    session: Session,
    tenant_id: str,
    facts: ReportFacts,
    run_key: str,
    *,
    history: Callable[[int], dict[str, list[tuple[datetime, int]]]],
    now: datetime | None = None,
) -> Outcome:
    """Queue each active chat's report or digest and the alerts that start with this sync.

    `history(threshold)` gives the urgent products' recent stock for the chart. `run_key` is the
    sync's root run id: a retried run (or a re-execution of it) has the same one."""
    now = now or utcnow()
    outcome = Outcome()
    charts: dict[tuple[str, int, str], Chart] = {}
    for chat in active_chats(session, tenant_id):
        wanted = report_key(chat, run_key, now)
        quiet = quiet_until(now, chat.timezone, chat.quiet_start, chat.quiet_end)
        if wanted is not None and quiet is not None and wanted[0] == "report":
            # A per-sync report in quiet hours is skipped, not saved up: the first sync after
            # them reports the numbers as they are then (alerts do wait, below).
            outcome.notes.append(f"chat {chat.chat_id}: quiet hours, no report for this sync")
            wanted = None
        if wanted is not None and not has_key(session, tenant_id, chat.chat_id, wanted[1]):
            kind, key = wanted
            threshold, locale, timezone = chat.low_cover_days, chat.language, chat.timezone
            previous = Totals.from_json(last_totals(session, tenant_id, chat.chat_id))
            chart = charts.get((locale, threshold, timezone))
            if chart is None:
                chart = charts[(locale, threshold, timezone)] = render_chart(
                    facts, threshold=threshold, locale=locale, timezone=timezone, history=history(threshold)
                )
                outcome.chart_seconds.append(chart.render_seconds)
            parts = [
                Part(
                    "sendMessage",
                    report_text(
                        facts, locale=locale, threshold=threshold, timezone=timezone, previous=previous
                    ),
                ),
                Part("sendPhoto", report_caption(facts, locale=locale, timezone=timezone, previous=previous)),
            ]
            if queue(
                session,
                tenant_id,
                chat.chat_id,
                key,
                kind,
                parts,
                photo=chart.png,
                totals=facts.totals.as_json(),
                run_id=run_key,
                not_before=quiet,
            ):
                outcome.queued[kind] += 1
        fired = fire_alerts(
            session,
            chat,
            stock_conditions(facts, chat.low_cover_days)
            + account_conditions(session, tenant_id, now)
            + guard_conditions(facts),
            STOCK_KINDS + ACCOUNT_KINDS + GUARD_KINDS,
            seller=facts.seller,
            key=f"alerts:{run_key}",
            run_id=run_key,
            now=now,
        )
        outcome.alerts_fired += fired
        outcome.queued["alert"] += bool(fired)
    return outcome


def account_alerts(session: Session, tenant_id: str, seller: str, now: datetime | None = None) -> int:
    """The key, sync and trial alerts of one tenant, outside any sync (the sensor): a failing
    sync never reaches the report step. Returns how many fired."""
    now = now or utcnow()
    fired = 0
    conditions = account_conditions(session, tenant_id, now)
    for chat in active_chats(session, tenant_id):
        stamp = now.strftime("%Y%m%dT%H%M%S.%f")
        fired += fire_alerts(
            session,
            chat,
            conditions,
            ACCOUNT_KINDS,
            seller=seller,
            key=f"alerts:{stamp}",
            run_id=None,
            now=now,
        )
    return fired


def fire_alerts(
    session: Session,
    chat: TelegramChat,
    conditions: list[Condition],
    kinds: tuple[str, ...],
    *,
    seller: str,
    key: str,
    run_id: str | None,
    now: datetime,
) -> int:
    """Record which conditions start and clear for the chat, and queue one message for those that
    start (after the chat's quiet hours); both in one transaction."""
    by_key = {c.key: c for c in conditions if c.kind in kinds}
    started = arm_and_fire(
        session, chat.tenant_id, chat.chat_id, {k: c.kind for k, c in by_key.items()}, kinds, run_id=run_id
    )
    if not started:
        session.commit()  # what cleared is re-armed
        return 0
    text = alert_text(
        [by_key[k] for k in started], seller=seller, locale=chat.language, timezone=chat.timezone
    )
    queued = queue(
        session,
        chat.tenant_id,
        chat.chat_id,
        key,
        "alert",
        [Part("sendMessage", text)],
        run_id=run_id,
        not_before=quiet_until(now, chat.timezone, chat.quiet_start, chat.quiet_end),
    )
    if queued is None:
        session.commit()
    return len(started)


def send_due(
    session: Session, sender: Sender, *, tenant_id: str | None = None, now: datetime | None = None
) -> Outcome:
    """Send every delivery that is due (its quiet hours over, its backoff passed), part by part."""
    outcome = Outcome()
    for row in due(session, now, tenant_id=tenant_id):
        chat = chat_by_telegram_id(session, row.chat_id)
        if chat is None or chat.tenant_id != row.tenant_id:
            record_failure(session, row, "the chat is unlinked or inactive", final=True)
            outcome.failed += 1
            continue
        _send(session, sender, row, outcome)
    return outcome


def _send(session: Session, sender: Sender, row: TelegramDelivery, outcome: Outcome) -> None:
    for index in range(row.sent, len(row.parts)):
        part = row.parts[index]
        if part["method"] == "sendPhoto":
            if row.photo is None:  # nothing to send any more (an old row): skip the photo
                record_progress(session, row, index + 1)
                continue
            result = sender.send_photo(row.chat_id, row.photo, part["text"])
        else:
            result = sender.send_message(row.chat_id, part["text"])
        if not result.sent:
            final = result.status == "failed" and result.reason in FINAL_REASONS
            record_failure(session, row, f"{result.reason}: {result.detail or ''}".strip(), final=final)
            if final:
                outcome.failed += 1
            else:
                outcome.deferred += 1
            return
        record_progress(session, row, index + 1)
    outcome.sent += 1

"""What each linked Telegram chat is to receive, and the alert state behind it (DESIGN §6b).

The only code that queries `telegram_deliveries` and `telegram_alert_states`. A delivery is
queued once per chat and key (a retried run finds its row), the alert state changes in the same
transaction as the alert's delivery, and nothing here talks to Telegram: api/bot/delivery.py does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warehouse.models import TelegramAlertState, TelegramDelivery, utcnow

FIRST_RETRY = timedelta(seconds=30)
RETRY_FOR = timedelta(hours=24)
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Part:
    """One Bot API call of a delivery: `sendMessage` (text) or `sendPhoto` (caption + the PNG)."""

    method: str
    text: str


def queue(
    session: Session,
    tenant_id: str,
    chat_id: int,
    key: str,
    kind: str,
    parts: Sequence[Part],
    *,
    photo: bytes | None = None,
    totals: dict[str, Any] | None = None,
    run_id: str | None = None,
    not_before: datetime | None = None,
) -> TelegramDelivery | None:
    """Queue a delivery unless this chat already has one under `key` (then None); commits.

    A new report supersedes the chat's older reports still pending: after a night of failures
    the chat gets the latest numbers, not every stale report in turn."""
    if _find(session, tenant_id, chat_id, key) is not None:
        return None
    row = TelegramDelivery(
        tenant_id=tenant_id,
        chat_id=chat_id,
        key=key,
        kind=kind,
        run_id=run_id,
        parts=[{"method": p.method, "text": p.text} for p in parts],
        photo=photo,
        totals=totals,
        next_attempt_at=not_before or utcnow(),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # another process queued it a moment ago
        session.rollback()
        return None
    if kind in ("report", "digest"):
        session.execute(
            update(TelegramDelivery)
            .where(
                TelegramDelivery.tenant_id == tenant_id,
                TelegramDelivery.chat_id == chat_id,
                TelegramDelivery.kind == kind,
                TelegramDelivery.status == "pending",
                TelegramDelivery.id != row.id,
            )
            .values(status="superseded", photo=None)
        )
    session.commit()
    return row


def has_key(session: Session, tenant_id: str, chat_id: int, key: str) -> bool:
    return _find(session, tenant_id, chat_id, key) is not None


def last_totals(session: Session, tenant_id: str, chat_id: int, *, before_key: str | None = None) -> Any:
    """The totals of the chat's last report or digest (delivered or still on its way)."""
    query = (
        select(TelegramDelivery.totals)
        .where(
            TelegramDelivery.tenant_id == tenant_id,
            TelegramDelivery.chat_id == chat_id,
            TelegramDelivery.kind.in_(("report", "digest")),
            TelegramDelivery.status.in_(("pending", "delivered")),
            TelegramDelivery.totals.is_not(None),
        )
        .order_by(TelegramDelivery.id.desc())
        .limit(1)
    )
    if before_key is not None:
        query = query.where(TelegramDelivery.key != before_key)
    return session.scalar(query)


def due(
    session: Session, now: datetime | None = None, *, tenant_id: str | None = None
) -> list[TelegramDelivery]:
    query = (
        select(TelegramDelivery)
        .where(TelegramDelivery.status == "pending", TelegramDelivery.next_attempt_at <= (now or utcnow()))
        .order_by(TelegramDelivery.id)
    )
    if tenant_id is not None:
        query = query.where(TelegramDelivery.tenant_id == tenant_id)
    return list(session.scalars(query))


def record_progress(session: Session, row: TelegramDelivery, sent: int) -> None:
    """`sent` parts of the delivery are through (kept at once: a crash must not resend them)."""
    row.sent = sent
    if sent >= len(row.parts):
        row.status, row.delivered_at, row.photo, row.last_error = "delivered", utcnow(), None, None
    session.commit()


def record_failure(session: Session, row: TelegramDelivery, error: str, *, final: bool = False) -> None:
    """A send failed: retried with backoff for a day, or given up at once when `final` (the chat
    blocked the bot or is gone)."""
    now = utcnow()
    row.attempts += 1
    row.last_error = error[:MAX_ERROR_CHARS]
    if final or now - row.created_at > RETRY_FOR:
        row.status, row.photo = "failed", None
    else:
        row.next_attempt_at = now + FIRST_RETRY * 2 ** min(row.attempts - 1, 8)
    session.commit()


def deliveries(session: Session, tenant_id: str, chat_id: int | None = None) -> list[TelegramDelivery]:
    query = select(TelegramDelivery).where(TelegramDelivery.tenant_id == tenant_id)
    if chat_id is not None:
        query = query.where(TelegramDelivery.chat_id == chat_id)
    return list(session.scalars(query.order_by(TelegramDelivery.id)))


# --- alert state ----------------------------------------------------------------------------------


def fired_keys(session: Session, tenant_id: str, chat_id: int, kinds: Iterable[str]) -> set[str]:
    rows = session.scalars(
        select(TelegramAlertState.key).where(
            TelegramAlertState.tenant_id == tenant_id,
            TelegramAlertState.chat_id == chat_id,
            TelegramAlertState.kind.in_(list(kinds)),
        )
    )
    return set(rows)


def arm_and_fire(
    session: Session,
    tenant_id: str,
    chat_id: int,
    present: dict[str, str],
    kinds: Iterable[str],
    *,
    run_id: str | None = None,
) -> list[str]:
    """Compare the conditions present now (`key → kind`, only of `kinds`) with the chat's state:
    the keys that start now are fired (returned, recorded), the recorded keys of those kinds that
    are gone are cleared (re-armed). No commit: the caller queues the alert in the same
    transaction, so a crash between the two leaves neither."""
    kinds = list(kinds)
    before = fired_keys(session, tenant_id, chat_id, kinds)
    gone = before - set(present)
    if gone:
        session.execute(
            delete(TelegramAlertState).where(
                TelegramAlertState.tenant_id == tenant_id,
                TelegramAlertState.chat_id == chat_id,
                TelegramAlertState.key.in_(sorted(gone)),
            )
        )
    started = [key for key in present if key not in before]
    now = utcnow()
    session.add_all(
        TelegramAlertState(
            tenant_id=tenant_id, chat_id=chat_id, key=key, kind=present[key], fired_at=now, run_id=run_id
        )
        for key in started
    )
    return started


def _find(session: Session, tenant_id: str, chat_id: int, key: str) -> TelegramDelivery | None:
    return session.scalar(
        select(TelegramDelivery).where(
            TelegramDelivery.tenant_id == tenant_id,
            TelegramDelivery.chat_id == chat_id,
            TelegramDelivery.key == key,
        )
    )

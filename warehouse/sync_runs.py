"""Bookkeeping of syncs: one row per requested run, from queued to its outcome.

Dagster keeps the full run record; this table is what the API, the bot and `tenants list` read
("last sync", "is one running") without asking Dagster, scoped by tenant like every app query.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warehouse.models import SYNC_TRIGGERS, TIERS, SyncRun, Tenant, TenantSyncState, utcnow
from warehouse.telemetry import count_finished_sync
from warehouse.webhooks import enqueue_sync_outcome

ACTIVE = ("queued", "running")
FINISHED = ("success", "failed", "skipped")
MAX_ERROR_CHARS = 4000
# Errors come from marketplace answers and library messages; a JWT (a WB token) must not be
# kept even if some layer quoted one by mistake.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def start_sync_run(
    session: Session,
    tenant_id: str,
    trigger: str,
    tier: str,
    run_id: str | None = None,
    *,
    status: str = "running",
) -> SyncRun:
    _one_of("trigger", trigger, SYNC_TRIGGERS)
    _one_of("tier", tier, TIERS)
    _one_of("status", status, ACTIVE)
    if session.get(Tenant, tenant_id) is None:
        raise LookupError(f"no tenant {tenant_id!r}")
    run = SyncRun(tenant_id=tenant_id, trigger=trigger, tier=tier, run_id=run_id, status=status)
    session.add(run)
    session.commit()
    return run


def mark_sync_run_running(session: Session, run: SyncRun | int | str, run_id: str | None = None) -> SyncRun:
    """A queued run has started (and, if it was queued before Dagster named it, its run id)."""
    row = _find(session, run)
    row.status = "running"
    if run_id is not None:
        row.run_id = run_id
    session.commit()
    return row


def finish_sync_run(
    session: Session,
    run: SyncRun | int | str,
    status: str,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> SyncRun:
    """Record a run's outcome; `run` is the row, its id, or its Dagster run id."""
    _one_of("status", status, FINISHED)
    row = _find(session, run)
    newly_finished = row.status not in FINISHED
    row.status, row.finished_at = status, utcnow()
    row.counts = counts
    row.error = _clean_error(error)
    if newly_finished:
        _count(session, row)
    session.commit()
    return row


def record_finished_run(
    session: Session,
    run_id: str,
    tenant_id: str,
    trigger: str,
    tier: str,
    status: str,
    started_at: datetime,
    finished_at: datetime,
    error: str | None = None,
) -> SyncRun:
    """The outcome of a Dagster run, whoever launched it: the row the API created when it launched
    the run is completed; a scheduled or CLI run gets its row now. Safe to call twice."""
    _one_of("status", status, FINISHED)
    _one_of("tier", tier, TIERS)
    row = session.scalar(select(SyncRun).where(SyncRun.run_id == run_id))
    if row is None:
        if session.get(Tenant, tenant_id) is None:
            raise LookupError(f"no tenant {tenant_id!r}")
        row = SyncRun(
            status="running",
            tenant_id=tenant_id,
            run_id=run_id,
            trigger=trigger if trigger in SYNC_TRIGGERS else "manual",
            tier=tier,
        )
        session.add(row)
    newly_finished = row.status not in FINISHED
    row.status, row.started_at, row.finished_at = status, started_at, finished_at
    row.error = _clean_error(error)
    if newly_finished:  # seen twice (a sensor and the API), counted once
        _count(session, row)
        enqueue_sync_outcome(session, row)  # the seller's webhooks, in the same transaction
    session.commit()
    return row


def _count(session: Session, row: SyncRun) -> None:
    if row.status == "success" and row.finished_at is not None:
        state = session.get(TenantSyncState, row.tenant_id, with_for_update=True)
        if state is None:
            session.add(TenantSyncState(tenant_id=row.tenant_id, last_success_at=row.finished_at))
        elif state.last_success_at < row.finished_at:
            state.last_success_at = row.finished_at
    seconds = (
        (row.finished_at - row.started_at).total_seconds() if row.finished_at and row.started_at else 0.0
    )
    count_finished_sync(session, row.tier, row.status, seconds)


def recent_sync_runs(session: Session, tenant_id: str, limit: int = 20, offset: int = 0) -> list[SyncRun]:
    query = (
        select(SyncRun)
        .where(SyncRun.tenant_id == tenant_id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def running_sync_run(session: Session, tenant_id: str) -> SyncRun | None:
    """The tenant's queued or running sync, if any (at most one should exist, DESIGN §4)."""
    query = (
        select(SyncRun)
        .where(SyncRun.tenant_id == tenant_id, SyncRun.status.in_(ACTIVE))
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def _find(session: Session, run: SyncRun | int | str) -> SyncRun:
    if isinstance(run, SyncRun):
        return run if run in session else session.merge(run)
    row = (
        session.get(SyncRun, run)
        if isinstance(run, int)
        else session.scalar(select(SyncRun).where(SyncRun.run_id == run))
    )
    if row is None:
        raise LookupError(f"no sync run {run!r}")
    return row


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def _clean_error(error: str | None) -> str | None:
    if error is None:
        return None
    text = _JWT.sub("<token hidden>", error)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"

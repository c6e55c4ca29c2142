"""Reads of a tenant's sync runs for the API, next to the bookkeeping in `sync_runs.py`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warehouse.models import TIERS, SyncRun, Tenant, UtcDateTime


def tenant_run(session: Session, tenant_id: str, run_id: str) -> SyncRun | None:
    """The run with Dagster id `run_id` if it is this tenant's; another tenant's run is not found."""
    return session.scalar(select(SyncRun).where(SyncRun.tenant_id == tenant_id, SyncRun.run_id == run_id))


def count_runs(session: Session, tenant_id: str) -> int:
    return int(
        session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.tenant_id == tenant_id)) or 0
    )


def tenants_per_tier(session: Session) -> dict[str, int]:
    """Active tenants on each tier (every tier listed, zero included)."""
    counts = dict.fromkeys(TIERS, 0)
    rows = session.execute(
        select(Tenant.tier, func.count()).where(Tenant.status == "active").group_by(Tenant.tier)
    )
    for tier, count in rows:
        counts[tier] = int(count)
    return counts


def last_success_per_tier(session: Session) -> dict[str, datetime | None]:
    """Per tier, the oldest "last successful sync" among its active tenants that ever synced: the
    stalest seller's data. None when no tenant of the tier has synced successfully yet."""
    last = (
        select(SyncRun.tenant_id, func.max(SyncRun.finished_at).label("finished_at"))
        .where(SyncRun.status == "success")
        .group_by(SyncRun.tenant_id)
        .subquery()
    )
    rows = session.execute(
        select(Tenant.tier, func.min(last.c.finished_at, type_=UtcDateTime()))
        .join(last, last.c.tenant_id == Tenant.id)
        .where(Tenant.status == "active")
        .group_by(Tenant.tier)
    )
    found: dict[str, datetime | None] = dict.fromkeys(TIERS)
    for tier, finished_at in rows:
        found[tier] = finished_at
    return found

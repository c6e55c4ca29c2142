"""Reads of a tenant's sync runs for the API, next to the bookkeeping in `sync_runs.py`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warehouse.models import SyncRun


def tenant_run(session: Session, tenant_id: str, run_id: str) -> SyncRun | None:
    """The run with Dagster id `run_id` if it is this tenant's; another tenant's run is not found."""
    return session.scalar(select(SyncRun).where(SyncRun.tenant_id == tenant_id, SyncRun.run_id == run_id))


def count_runs(session: Session, tenant_id: str) -> int:
    return int(
        session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.tenant_id == tenant_id)) or 0
    )

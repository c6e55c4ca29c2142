"""Launching a tenant's sync in Dagster and keeping its `sync_runs` row in step with the run.

The row is the API's record ("is one running", history); Dagster is the truth about a run. A row
still queued or running is refreshed from Dagster whenever it is read, so the status endpoint and
the history show what the run did without a callback from Dagster.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from api.dagster_client import DagsterClient, DagsterUnavailable
from api.errors import ApiError
from warehouse import sync_runs, tenants
from warehouse.models import SyncRun
from warehouse.tenant_scope import lock_tenant

log = logging.getLogger("stock_tracker.api")


def launch(session: Session, dagster: DagsterClient, tenant_id: str) -> SyncRun:
    """Start a sync of the tenant's current partition; 409 when one is already queued or running."""
    active = sync_runs.running_sync_run(session, tenant_id)
    if active is not None:
        refresh(session, dagster, active)
    tenant = tenants.get_tenant(session, tenant_id)
    marketplaces = [c.marketplace for c in tenants.credential_status(session, tenant_id)]
    if tenant is None:
        raise ApiError(404, "not_found")
    if not marketplaces:
        raise ApiError(409, "no_credentials")
    # Two launches at once for one tenant queue here; the second then finds the first's row.
    lock_tenant(session, tenant_id)
    active = sync_runs.running_sync_run(session, tenant_id)
    try:
        running = active.run_id if active is not None and active.run_id else dagster.active_run(tenant_id)
        if running is not None:
            raise ApiError(409, "sync_already_running", run_id=running)
        run_id = dagster.launch_sync(tenant_id, tenant.tier, marketplaces)
    except DagsterUnavailable as exc:
        log.warning("dagster unavailable: %s", exc)
        raise ApiError(503, "dagster_unavailable", headers={"Retry-After": "30"}) from None
    return sync_runs.start_sync_run(session, tenant_id, "api", tenant.tier, run_id, status="queued")


def refresh(session: Session, dagster: DagsterClient, run: SyncRun) -> SyncRun:
    """Bring a queued or running row up to date with its Dagster run (unchanged if Dagster is away)."""
    if run.status not in sync_runs.ACTIVE or run.run_id is None:
        return run
    try:
        state = dagster.run(run.run_id)
    except DagsterUnavailable as exc:
        log.warning("dagster unavailable: %s", exc)
        return run
    if state is None:
        return sync_runs.finish_sync_run(
            session, run, "failed", error="the run is no longer known to Dagster"
        )
    if state.status in ("success", "failed"):
        return sync_runs.finish_sync_run(session, run, state.status, error=state.error)
    if state.status == "running" and run.status == "queued":
        return sync_runs.mark_sync_run_running(session, run)
    return run

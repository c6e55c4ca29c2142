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
from api.plan_limits import MANUAL_TRIGGERS, check_manual_sync
from warehouse import sync_runs, tenants
from warehouse.models import SyncRun, Tenant
from warehouse.tenant_scope import lock_tenant

log = logging.getLogger("stock_tracker.api")


def start_manual_sync(
    session: Session, dagster: DagsterClient, tenant: Tenant, trigger: str = "api"
) -> SyncRun:
    """A sync on demand, as the seller asks for it (the API's `POST /sync/`, the Telegram bot with
    `trigger="manual"`): the plan's manual syncs an hour and its sync gate first, then `launch`.
    Raises ApiError with a message code (403 `syncs_paused`, 429 `manual_sync_limit`, 409, 503)."""
    if trigger not in MANUAL_TRIGGERS:
        raise ValueError(f"a manual sync's trigger is one of {MANUAL_TRIGGERS}, not {trigger!r}")
    check_manual_sync(session, tenant)
    return launch(session, dagster, tenant.id, trigger)


def launch(session: Session, dagster: DagsterClient, tenant_id: str, trigger: str = "api") -> SyncRun:
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
        run_id = dagster.launch_sync(tenant_id, tenant.tier, marketplaces, trigger)
    except DagsterUnavailable as exc:
        log.warning("dagster unavailable: %s", exc)
        raise ApiError(503, "dagster_unavailable", headers={"Retry-After": "30"}) from None
    return sync_runs.start_sync_run(session, tenant_id, trigger, tenant.tier, run_id, status="queued")


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

"""Sync control: launch a run of the tenant's partition in Dagster, follow it, list past runs."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api import sync_control
from api.deps import CurrentUser, DagsterDep, EditorUser, TenantSessionDep
from api.errors import ApiError, responses
from api.models import SyncPage, SyncRunOut
from api.routes import API_PREFIX
from api.views import sync_run_view
from warehouse import sync_runs
from warehouse.sync_history import count_runs, tenant_run

router = APIRouter(prefix=f"{API_PREFIX}/sync", tags=["sync"])
alias_router = APIRouter(prefix=API_PREFIX, tags=["stock"])
RunId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.post("/", status_code=status.HTTP_202_ACCEPTED, responses=responses(401, 403, 409, 429, 503))
def start_sync(principal: EditorUser, session: TenantSessionDep, dagster: DagsterDep) -> SyncRunOut:
    """Start a sync of your stock now (owners and admins). 409 while one is queued or running;
    429 past the plan's manual syncs an hour; 403 while the plan stops syncs."""
    return sync_run_view(sync_control.start_manual_sync(session, dagster, principal.tenant))


alias_router.add_api_route(
    "/products/sync",
    start_sync,
    methods=["POST"],
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(401, 403, 409, 429, 503),
    summary="Start Sync (alias of POST /api/v1/sync/)",
    operation_id="start_sync_products_alias",
)


@router.get("/status/{run_id}", responses=responses(401, 403, 404, 422, 429))
def sync_status(
    run_id: RunId, principal: CurrentUser, session: TenantSessionDep, dagster: DagsterDep
) -> SyncRunOut:
    """Where a sync is: queued, running, success or failed (with the reason)."""
    run = tenant_run(session, principal.tenant_id, run_id)
    if run is None:
        raise ApiError(404, "sync_run_not_found")
    return sync_run_view(sync_control.refresh(session, dagster, run))


@router.get("/history", responses=responses(401, 403, 422, 429))
def sync_history(
    principal: CurrentUser,
    session: TenantSessionDep,
    dagster: DagsterDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 20,
) -> SyncPage:
    """Past and current syncs, newest first."""
    runs = sync_runs.recent_sync_runs(
        session, principal.tenant_id, limit=page_size, offset=(page - 1) * page_size
    )
    runs = [sync_control.refresh(session, dagster, run) for run in runs]
    total = count_runs(session, principal.tenant_id)
    return SyncPage(
        items=[sync_run_view(r) for r in runs],
        total=total,
        page=page,
        page_size=page_size,
        pages=math.ceil(total / page_size),
    )

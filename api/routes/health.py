"""Liveness and readiness for the load balancer and the orchestrator."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.dagster_client import DagsterUnavailable
from api.deps import DagsterDep, SessionDep
from api.models import HealthOut
from api.routes import API_PREFIX

log = logging.getLogger("stock_tracker.api")
router = APIRouter(prefix=f"{API_PREFIX}/health", tags=["health"])


@router.get("/")
@router.get("/live")
def live() -> HealthOut:
    """The process answers (no dependency is checked)."""
    return HealthOut(status="ok")


@router.get("/ready", responses={503: {"model": HealthOut, "description": "A dependency is unavailable"}})
def ready(session: SessionDep, dagster: DagsterDep) -> HealthOut:
    """The app database and Dagster answer; 503 (with which one failed) otherwise."""
    checks: dict[str, str] = {}
    try:
        session.execute(text("select 1"))
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readiness: database: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    try:
        dagster.version()
        checks["dagster"] = "ok"
    except DagsterUnavailable as exc:
        log.warning("readiness: dagster: %s", exc)
        checks["dagster"] = "unavailable"
    body = HealthOut(status="ok" if all(v == "ok" for v in checks.values()) else "unavailable", checks=checks)
    if body.status != "ok":
        return JSONResponse(body.model_dump(), status_code=503)  # type: ignore[return-value]
    return body

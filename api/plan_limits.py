"""The plan's limits where a seller meets them (DESIGN §6a): connected marketplaces and manual
syncs. Each refusal names the plan that would allow it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.errors import ApiError
from warehouse.billing import subscription_of, sync_gate
from warehouse.models import MarketplaceCredential, SyncRun, Tenant
from warehouse.plans import PLANS, first_allowing

MANUAL_TRIGGERS = ("manual", "api")


def check_marketplace_slot(session: Session, tenant: Tenant, marketplace: str) -> None:
    """Connecting one more marketplace than the plan allows is refused (replacing a key is not)."""
    plan = PLANS[tenant.tier]
    others = session.scalar(
        select(func.count())
        .select_from(MarketplaceCredential)
        .where(MarketplaceCredential.tenant_id == tenant.id, MarketplaceCredential.marketplace != marketplace)
    )
    wanted = int(others or 0) + 1
    if plan.marketplaces is None or wanted <= plan.marketplaces:
        return
    better = first_allowing(lambda p: p.marketplaces is None or p.marketplaces >= wanted)
    raise ApiError(
        403,
        "plan_limit",
        current=plan.name,
        limit=plan.marketplaces,
        plan=better.name if better else "-",
    )


def manual_syncs_last_hour(
    session: Session, tenant_id: str, now: datetime | None = None
) -> tuple[int, datetime | None]:
    """Manual syncs started in the last hour, and when the oldest of them started."""
    since = (now or datetime.now(UTC)) - timedelta(hours=1)
    count, oldest = session.execute(
        select(func.count(), func.min(SyncRun.started_at)).where(
            SyncRun.tenant_id == tenant_id, SyncRun.trigger.in_(MANUAL_TRIGGERS), SyncRun.started_at >= since
        )
    ).one()
    if isinstance(oldest, datetime) and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count or 0), oldest


def check_manual_sync(session: Session, tenant: Tenant) -> None:
    """A sync on demand: not while the plan stops syncs, and at most the plan's number an hour, so
    manual syncs cannot replace the plan's cadence."""
    gate = sync_gate(subscription_of(session, tenant.id))
    if not gate.allowed:
        raise ApiError(403, "syncs_paused", reason=gate.reason or "-")
    plan = PLANS[tenant.tier]
    now = datetime.now(UTC)
    count, oldest = manual_syncs_last_hour(session, tenant.id, now)
    if count < plan.manual_syncs_per_hour:
        return
    free_at = (oldest or now) + timedelta(hours=1)
    seconds = max(1, math.ceil((free_at - now).total_seconds()))
    raise ApiError(
        429,
        "manual_sync_limit",
        headers={"Retry-After": str(seconds)},
        current=plan.name,
        limit=plan.manual_syncs_per_hour,
        seconds=seconds,
    )

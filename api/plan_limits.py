"""The plan's limits where a seller meets them (DESIGN §6a): connected marketplaces and manual
syncs. Each refusal names the plan that would allow it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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


@dataclass(frozen=True)
class ManualSyncVerdict:
    """Whether the plan lets the tenant start a sync now; if not, a message code (`api/i18n.py`:
    `syncs_paused`, `manual_sync_limit`) with its parameters and when to try again. No HTTP in
    it, so the Telegram bot words the same refusal its own way."""

    allowed: bool
    used: int
    limit: int
    code: str | None = None
    retry_after_seconds: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


def manual_sync_verdict(session: Session, tenant: Tenant, now: datetime | None = None) -> ManualSyncVerdict:
    """A sync on demand: not while the plan stops syncs, and at most the plan's number an hour, so
    manual syncs (API and bot alike, both counted as manual triggers) cannot replace the cadence."""
    plan = PLANS[tenant.tier]
    now = now or datetime.now(UTC)
    count, oldest = manual_syncs_last_hour(session, tenant.id, now)
    limit = plan.manual_syncs_per_hour
    gate = sync_gate(subscription_of(session, tenant.id), now)
    if not gate.allowed:
        return ManualSyncVerdict(False, count, limit, "syncs_paused", params={"reason": gate.reason or "-"})
    if count < limit:
        return ManualSyncVerdict(True, count, limit)
    free_at = (oldest or now) + timedelta(hours=1)
    seconds = max(1, math.ceil((free_at - now).total_seconds()))
    params = {"current": plan.name, "limit": limit, "seconds": seconds}
    return ManualSyncVerdict(False, count, limit, "manual_sync_limit", seconds, params)


def check_manual_sync(session: Session, tenant: Tenant) -> None:
    """`manual_sync_verdict` as the API's answer: 403 `syncs_paused`, 429 `manual_sync_limit`."""
    verdict = manual_sync_verdict(session, tenant)
    if verdict.allowed or verdict.code is None:
        return
    if verdict.retry_after_seconds is None:
        raise ApiError(403, verdict.code, **verdict.params)
    raise ApiError(
        429, verdict.code, headers={"Retry-After": str(verdict.retry_after_seconds)}, **verdict.params
    )

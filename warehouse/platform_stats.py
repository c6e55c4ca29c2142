"""Platform-wide aggregates for the operator's metrics, read from the app database's records.

No per-tenant result leaves this module: every read is grouped by tier, outcome, marketplace or
endpoint family, so the exported series stay few at any number of tenants. Each function is one
query (a scan of `sync_runs` at most), cheap enough for a 15 s scrape with 100 000 sync records
(bench/bench_metrics.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Float, and_, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from warehouse.models import (
    TIERS,
    MarketplaceCalls,
    MarketplaceLoad,
    SheetPublish,
    SheetsWriteBudget,
    Subscription,
    SyncRun,
    Tenant,
)

# Seconds between a tier's scheduled syncs (assets/schedules.py CADENCE: 2 h, 30 min, 10 min).
CADENCE_SECONDS = {"starter": 7200, "pro": 1800, "enterprise": 600}
FINISHED = ("success", "failed", "skipped")
# Sync duration buckets: a sync takes seconds to tens of minutes (the WB remains report alone
# can take minutes); the top bucket is the slowest cadence.
DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


@dataclass
class DurationHistogram:
    """Cumulative counts per upper bound, as Prometheus histograms want them."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    count: int = 0
    total_seconds: float = 0.0


@dataclass(frozen=True)
class SyncTotals:
    outcomes: dict[tuple[str, str], int]  # (tier, status) → syncs
    durations: dict[str, DurationHistogram]  # tier → finished syncs' durations


def _duration(session: Session) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "sqlite":
        seconds = (func.julianday(SyncRun.finished_at) - func.julianday(SyncRun.started_at)) * 86400.0
        return cast(seconds, Float)
    return cast(func.extract("epoch", SyncRun.finished_at - SyncRun.started_at), Float)


def sync_totals(session: Session) -> SyncTotals:
    """Syncs by tier and status, and the duration histogram of finished ones, in one scan."""
    duration = _duration(session)
    finished = SyncRun.finished_at.is_not(None)
    bucket_columns = [
        func.sum(case((and_(finished, duration <= bound), 1), else_=0)) for bound in DURATION_BUCKETS
    ]
    rows = session.execute(
        select(
            SyncRun.tier,
            SyncRun.status,
            func.count(),
            func.sum(case((finished, 1), else_=0)),
            func.coalesce(func.sum(case((finished, duration), else_=0.0)), 0.0),
            *bucket_columns,
        ).group_by(SyncRun.tier, SyncRun.status)
    )
    outcomes: dict[tuple[str, str], int] = {}
    durations = {tier: DurationHistogram() for tier in TIERS}
    for tier, status, count, finished_count, seconds, *buckets in rows:
        outcomes[(tier, status)] = int(count)
        if status not in FINISHED:
            continue
        histogram = durations[tier]
        histogram.count += int(finished_count or 0)
        histogram.total_seconds += float(seconds or 0.0)
        for i, n in enumerate(buckets):
            histogram.buckets[i] += int(n or 0)
    return SyncTotals(outcomes, durations)


@dataclass(frozen=True)
class Staleness:
    """Per tier, how old the active tenants' data is: age of each one's last successful sync (of
    its creation, while it has none)."""

    tenants: int
    oldest_seconds: float
    p95_seconds: float
    past_twice_cadence: int


def staleness(session: Session, now: datetime) -> dict[str, Staleness]:
    last_success = (
        select(SyncRun.tenant_id, func.max(SyncRun.finished_at).label("finished_at"))
        .where(SyncRun.status == "success")
        .group_by(SyncRun.tenant_id)
        .subquery()
    )
    rows = session.execute(
        select(Tenant.tier, Tenant.created_at, last_success.c.finished_at)
        .outerjoin(last_success, last_success.c.tenant_id == Tenant.id)
        .where(Tenant.status == "active")
    )
    ages: dict[str, list[float]] = {tier: [] for tier in TIERS}
    for tier, created_at, finished_at in rows:
        since = _aware(finished_at) or _aware(created_at)
        ages[tier].append(max(0.0, (now - since).total_seconds()) if since else 0.0)
    result = {}
    for tier, values in ages.items():
        values.sort()
        limit = 2 * CADENCE_SECONDS[tier]
        result[tier] = Staleness(
            tenants=len(values),
            oldest_seconds=values[-1] if values else 0.0,
            p95_seconds=_percentile(values, 0.95),
            past_twice_cadence=sum(1 for age in values if age > limit),
        )
    return result


def _aware(value: datetime | str | None) -> datetime | None:
    # The subquery's max() loses the column type on SQLite and comes back as text.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value at least q of the tenants are at or below)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class FamilyTotals:
    marketplace: str
    family: str
    requests: int
    throttled: int
    server_errors: int
    retries: int


def marketplace_totals(session: Session) -> list[FamilyTotals]:
    rows = session.execute(
        select(
            MarketplaceCalls.marketplace,
            MarketplaceCalls.family,
            func.sum(MarketplaceCalls.requests),
            func.sum(MarketplaceCalls.throttled),
            func.sum(MarketplaceCalls.server_errors),
            func.sum(MarketplaceCalls.retries),
        ).group_by(MarketplaceCalls.marketplace, MarketplaceCalls.family)
    )
    return [
        FamilyTotals(m, f, int(r or 0), int(t or 0), int(s or 0), int(x or 0)) for m, f, r, t, s, x in rows
    ]


def rows_loaded(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(MarketplaceLoad.marketplace, func.sum(MarketplaceLoad.rows_loaded)).group_by(
            MarketplaceLoad.marketplace
        )
    )
    return {marketplace: int(total or 0) for marketplace, total in rows}


def sheet_publishes(session: Session) -> dict[str, tuple[int, int]]:
    """Outcome → (publishes, write calls)."""
    rows = session.execute(
        select(SheetPublish.outcome, func.count(), func.sum(SheetPublish.writes)).group_by(
            SheetPublish.outcome
        )
    )
    return {outcome: (int(n), int(writes or 0)) for outcome, n, writes in rows}


@dataclass(frozen=True)
class BudgetBucket:
    key: str  # the service-account e-mail, `#reads` appended for its read budget
    tokens: float
    updated_at: datetime


def sheets_budget_buckets(session: Session) -> list[BudgetBucket]:
    rows = session.execute(
        select(SheetsWriteBudget.service_account, SheetsWriteBudget.tokens, SheetsWriteBudget.updated_at)
    )
    return [BudgetBucket(key, float(tokens), updated_at) for key, tokens, updated_at in rows]


def tenants_per_tier(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(TIERS, 0)
    rows = session.execute(
        select(Tenant.tier, func.count()).where(Tenant.status == "active").group_by(Tenant.tier)
    )
    for tier, count in rows:
        counts[tier] = int(count)
    return counts


def subscriptions(session: Session) -> dict[tuple[str, str], int]:
    """(tier, subscription status) → active tenants; `none` for tenants without a subscription."""
    status = func.coalesce(Subscription.status, literal_column("'none'"))
    rows = session.execute(
        select(Tenant.tier, status, func.count())
        .outerjoin(Subscription, Subscription.tenant_id == Tenant.id)
        .where(Tenant.status == "active")
        .group_by(Tenant.tier, status)
    )
    return {(tier, state): int(count) for tier, state, count in rows}

"""Platform-wide aggregates for the operator's metrics, read from the app database.

No per-tenant result leaves this module: every read is grouped by tier, outcome, marketplace or
endpoint family, so the exported series stay few at any number of tenants. Counters come from the
running totals the writers keep (warehouse/counters.py); data age reads each active tenant's
last good sync from `tenant_sync_state`. Neither scans the sync history, so a 15 s scrape stays cheap at any
history size (bench/bench_metrics.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from warehouse import counters
from warehouse.models import (
    TIERS,
    SheetsWriteBudget,
    Subscription,
    Tenant,
    TenantSyncState,
)
from warehouse.telemetry import DURATION_BUCKETS

# Seconds between a tier's scheduled syncs (assets/schedules.py CADENCE: 2 h, 30 min, 10 min).
CADENCE_SECONDS = {"starter": 7200, "pro": 1800, "enterprise": 600}
FINISHED = ("success", "failed", "skipped")


@dataclass
class DurationHistogram:
    """Cumulative counts per upper bound, as Prometheus histograms want them."""

    buckets: list[float] = field(default_factory=lambda: [0.0] * len(DURATION_BUCKETS))
    count: float = 0.0
    total_seconds: float = 0.0


@dataclass
class Totals:
    """The running totals (warehouse/counters.py), by what they count."""

    syncs: dict[tuple[str, str], float] = field(default_factory=dict)  # (tier, outcome)
    durations: dict[str, DurationHistogram] = field(
        default_factory=lambda: {t: DurationHistogram() for t in TIERS}
    )
    marketplace: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)  # name → (mp, family)
    rows_loaded: dict[str, float] = field(default_factory=dict)
    sheet_publishes: dict[str, float] = field(default_factory=dict)
    sheet_writes: float = 0.0
    # Syncs in which a supply-guard identity broke (warehouse/supply_guard.py): (marketplace, identity)
    guard_breaks: dict[tuple[str, str], float] = field(default_factory=dict)


def totals(session: Session) -> Totals:
    found = Totals()
    bounds = {str(b): i for i, b in enumerate(DURATION_BUCKETS)}
    for name, labels, value in counters.read(session):
        tier = labels.get("tier", "")
        if name == "syncs":
            found.syncs[(tier, labels["outcome"])] = value
        elif name.startswith("sync_duration_") and tier in found.durations:
            histogram = found.durations[tier]
            if name == "sync_duration_count":
                histogram.count = value
            elif name == "sync_duration_sum":
                histogram.total_seconds = value
            elif labels.get("le") in bounds:
                histogram.buckets[bounds[labels["le"]]] = value
        elif name.startswith("marketplace_"):
            found.marketplace.setdefault(name, {})[(labels["marketplace"], labels["family"])] = value
        elif name == "rows_loaded":
            found.rows_loaded[labels["marketplace"]] = value
        elif name == "sheet_publishes":
            found.sheet_publishes[labels["outcome"]] = value
        elif name == "sheet_writes":
            found.sheet_writes = value
        elif name == "supply_guard_breaks":
            found.guard_breaks[(labels["marketplace"], labels["identity"])] = value
    return found


@dataclass(frozen=True)
class Staleness:
    """Per tier, how old the active tenants' data is: age of each one's last successful sync (of
    its creation, while it has none)."""

    tenants: int
    oldest_seconds: float
    p95_seconds: float
    past_twice_cadence: int


def staleness(session: Session, now: datetime) -> dict[str, Staleness]:
    rows = session.execute(
        select(Tenant.tier, Tenant.created_at, TenantSyncState.last_success_at)
        .outerjoin(TenantSyncState, TenantSyncState.tenant_id == Tenant.id)
        .where(Tenant.status == "active")
    )
    ages: dict[str, list[float]] = {tier: [] for tier in TIERS}
    for tier, created_at, finished_at in rows:
        since = finished_at or created_at
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


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value at least q of the tenants are at or below)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


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

"""The platform's metrics, read from the systems of record each time Prometheus scrapes.

Syncs run in their own processes (pods on Kubernetes): counters kept inside a run die with it.
So the API's /metrics reads what the runs wrote to the app database — the running totals they keep
beside their records (platform_counters: syncs, durations, marketplace calls, rows, publishes),
each tenant's last good sync, the Sheets budget — and asks the Dagster instance how many runs are
queued and running.

No series carries a tenant label: 10 000 tenants would mean 10 000 series per metric. Per-tenant
detail lives in the API (sync history) and the Dagster UI.

Each source is a function from a session to metric families, so a new record (Telegram sends,
Stripe webhook events) is one more function in `SOURCES`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from warehouse import platform_stats as stats
from warehouse.app_db import session_factory
from warehouse.models import TIERS
from warehouse.telemetry import DURATION_BUCKETS

log = logging.getLogger("stock_tracker.api")
Source = Callable[[Session, datetime], Iterable[Metric]]


def _syncs(session: Session, now: datetime) -> Iterable[Metric]:
    totals = stats.totals(session)
    syncs = CounterMetricFamily(
        "stock_tracker_syncs",
        "Tenant syncs finished, by tier and outcome (success, failed, skipped).",
        labels=["tier", "outcome"],
    )
    for tier in TIERS:
        for outcome in stats.FINISHED:
            syncs.add_metric([tier, outcome], totals.syncs.get((tier, outcome), 0.0))
    duration = HistogramMetricFamily(
        "stock_tracker_sync_duration_seconds",
        "Wall time of finished tenant syncs, by tier.",
        labels=["tier"],
    )
    for tier in TIERS:
        h = totals.durations[tier]
        buckets = [(_bound(b), n) for b, n in zip(DURATION_BUCKETS, h.buckets, strict=True)]
        duration.add_metric([tier], [*buckets, ("+Inf", h.count)], h.total_seconds)
    return [syncs, duration, *_marketplaces(totals), *_sheet_totals(totals), _guard_breaks(totals)]


def _guard_breaks(totals: stats.Totals) -> Metric:
    breaks = CounterMetricFamily(
        "stock_tracker_supply_guard_breaks",
        "Syncs in which a marketplace's own numbers broke a supply-guard identity, by identity.",
        labels=["marketplace", "identity"],
    )
    for (marketplace, identity), value in sorted(totals.guard_breaks.items()):
        breaks.add_metric([marketplace, identity], value)
    return breaks


def _bound(value: float) -> str:
    return str(float(value))


def _staleness(session: Session, now: datetime) -> Iterable[Metric]:
    found = stats.staleness(session, now)
    oldest = GaugeMetricFamily(
        "stock_tracker_last_successful_sync_age_seconds",
        "Per tier, seconds since the last successful sync of the active tenant that waited longest "
        "(since sign-up for a tenant that never synced).",
        labels=["tier"],
    )
    p95 = GaugeMetricFamily(
        "stock_tracker_sync_age_p95_seconds",
        "Per tier, the 95th percentile of active tenants' time since their last successful sync.",
        labels=["tier"],
    )
    stale = GaugeMetricFamily(
        "stock_tracker_tenants_stale",
        "Active tenants whose last successful sync is older than twice their tier's cadence.",
        labels=["tier"],
    )
    cadence = GaugeMetricFamily(
        "stock_tracker_sync_cadence_seconds", "Seconds between scheduled syncs of a tier.", labels=["tier"]
    )
    for tier, s in found.items():
        oldest.add_metric([tier], s.oldest_seconds)
        p95.add_metric([tier], s.p95_seconds)
        stale.add_metric([tier], s.past_twice_cadence)
        cadence.add_metric([tier], stats.CADENCE_SECONDS[tier])
    return [oldest, p95, stale, cadence]


def _marketplaces(totals: stats.Totals) -> Iterable[Metric]:
    labels = ["marketplace", "family"]
    helps = {
        "requests": "Requests syncs sent to a marketplace, by endpoint family (retries included).",
        "throttled": "Marketplace answers with HTTP 429.",
        "server_errors": "Marketplace answers with HTTP 5xx.",
        "retries": "Marketplace requests sent again after a failure.",
    }
    families = []
    for name, text in helps.items():
        family = CounterMetricFamily(f"stock_tracker_marketplace_{name}", text, labels=labels)
        for (marketplace, endpoints), value in sorted(
            totals.marketplace.get(f"marketplace_{name}", {}).items()
        ):
            family.add_metric([marketplace, endpoints], value)
        families.append(family)
    loaded = CounterMetricFamily(
        "stock_tracker_rows_loaded",
        "Rows syncs loaded into the warehouse, by marketplace.",
        labels=["marketplace"],
    )
    for marketplace, rows in sorted(totals.rows_loaded.items()):
        loaded.add_metric([marketplace], rows)
    return [*families, loaded]


def _sheet_totals(totals: stats.Totals) -> Iterable[Metric]:
    publishes = CounterMetricFamily(
        "stock_tracker_sheet_publishes",
        "Publishes of tenants' grids to Google Sheets, by outcome (published, unchanged, failed).",
        labels=["outcome"],
    )
    for outcome in ("published", "unchanged", "failed"):
        publishes.add_metric([outcome], totals.sheet_publishes.get(outcome, 0.0))
    writes = CounterMetricFamily("stock_tracker_sheet_writes", "Google Sheets write calls made by publishes.")
    writes.add_metric([], totals.sheet_writes)
    return [publishes, writes]


def sheets_source(writes_per_minute: float, burst: float) -> Source:
    """The shared Sheets budget (resources/sheets_budget.py), refilled to now with the same rate
    and burst the publishers use."""
    rate = writes_per_minute / 60.0

    def _sheets(session: Session, now: datetime) -> Iterable[Metric]:
        available = GaugeMetricFamily(
            "stock_tracker_sheets_budget_available",
            "Calls the shared Sheets budget allows right now per service account and kind "
            "(negative: callers are queued waiting for it).",
            labels=["account", "kind"],
        )
        capacity = GaugeMetricFamily(
            "stock_tracker_sheets_budget_burst", "Calls the Sheets budget can save up."
        )
        capacity.add_metric([], burst)
        for bucket in stats.sheets_budget_buckets(session):
            account, _, kind = bucket.key.partition("#")
            elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
            available.add_metric([account, kind or "writes"], min(burst, bucket.tokens + elapsed * rate))
        return [available, capacity]

    return _sheets


def _tenants(session: Session, now: datetime) -> Iterable[Metric]:
    tenants = GaugeMetricFamily("stock_tracker_tenants", "Active tenants on each plan tier.", labels=["tier"])
    for tier, count in stats.tenants_per_tier(session).items():
        tenants.add_metric([tier], count)
    subscriptions = GaugeMetricFamily(
        "stock_tracker_subscriptions",
        "Active tenants by tier and subscription status (`none`: no subscription record yet).",
        labels=["tier", "status"],
    )
    for (tier, status), count in sorted(stats.subscriptions(session).items()):
        subscriptions.add_metric([tier, status], count)
    return [tenants, subscriptions]


class DagsterRuns:
    """Queued and running runs, from the Dagster instance (its run storage) the daemon uses."""

    QUEUED = ("QUEUED",)
    RUNNING = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")

    def __init__(self, dagster_home: Path) -> None:
        self.home = dagster_home
        self._instance = None

    def counts(self) -> dict[str, int]:
        from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

        if self._instance is None:
            self._instance = DagsterInstance.from_config(str(self.home))
        instance = self._instance
        return {
            state: instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus(s) for s in statuses]))
            for state, statuses in (("queued", self.QUEUED), ("running", self.RUNNING))
        }


def dagster_home(home: Path) -> Path | None:
    """Where the Dagster instance config is: DAGSTER_HOME, or the embedded default's `home/dagster`."""
    given = os.environ.get("DAGSTER_HOME")
    if given:
        return Path(given)
    local = home / "dagster"
    return local if (local / "dagster.yaml").exists() else None


class PlatformCollector(Collector):
    def __init__(
        self, app_database_url: str, sources: list[Source], dagster: DagsterRuns | None = None
    ) -> None:
        self.url = app_database_url
        self.sources = sources
        self.dagster = dagster

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("stock_tracker_app_database_up", "1 if the app database answered the scrape.")
        families: list[Metric] = []
        try:
            now = datetime.now(UTC)
            with session_factory(self.url)() as session:
                for source in self.sources:
                    families.extend(source(session, now))
            up.add_metric([], 1)
        except Exception as exc:
            # A scrape must still answer (the alert on this gauge is how the operator hears of it).
            log.warning("metrics: app database unavailable: %s", type(exc).__name__)
            families = []
            up.add_metric([], 0)
        yield up
        yield from families
        yield from self._dagster()

    def _dagster(self) -> Iterator[Metric]:
        if self.dagster is None:
            return
        up = GaugeMetricFamily("stock_tracker_dagster_up", "1 if the Dagster instance answered the scrape.")
        runs = GaugeMetricFamily(
            "stock_tracker_dagster_runs", "Dagster runs by state (queued, running).", labels=["state"]
        )
        try:
            for state, count in self.dagster.counts().items():
                runs.add_metric([state], count)
            up.add_metric([], 1)
        except Exception as exc:
            log.warning("metrics: dagster instance unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        yield up
        yield runs

    def describe(self) -> Iterator[Metric]:
        return iter(())


def default_sources(writes_per_minute: float, burst: float) -> list[Source]:
    return [_syncs, _staleness, sheets_source(writes_per_minute, burst), _tenants]

"""Prometheus metrics: HTTP traffic by route template, and business gauges read from the database.

Each app has its own registry (several apps in one test process must not share counters). The
business gauges are computed when Prometheus scrapes, from the app database: tenants per tier, and
per tier the age of the stalest tenant's last successful sync.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from warehouse.app_db import session_factory
from warehouse.sync_history import last_success_per_tier, tenants_per_tier

log = logging.getLogger("stock_tracker.api")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self, app_database_url: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "stock_tracker_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stock_tracker_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(BusinessCollector(app_database_url))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)


class BusinessCollector(Collector):
    def __init__(self, app_database_url: str) -> None:
        self.url = app_database_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tenants = GaugeMetricFamily(
            "stock_tracker_tenants", "Active tenants on each plan tier.", labels=["tier"]
        )
        age = GaugeMetricFamily(
            "stock_tracker_last_successful_sync_age_seconds",
            "Per tier, seconds since the last successful sync of the tenant that waited longest.",
            labels=["tier"],
        )
        up = GaugeMetricFamily("stock_tracker_app_database_up", "1 if the app database answered the scrape.")
        try:
            with session_factory(self.url)() as session:
                per_tier = tenants_per_tier(session)
                last = last_success_per_tier(session)
        except Exception as exc:
            log.warning("metrics: app database unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        now = datetime.now(UTC)
        for tier, count in per_tier.items():
            tenants.add_metric([tier], count)
        for tier, finished in last.items():
            if finished is not None:
                age.add_metric([tier], max(0.0, (now - finished).total_seconds()))
        up.add_metric([], 1)
        yield from (tenants, age, up)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

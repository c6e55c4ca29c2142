"""Prometheus metrics: HTTP traffic by route template, and the platform's metrics read from the
systems of record at scrape time (api/platform_metrics.py).

Each app has its own registry (several apps in one test process must not share counters).
"""

from __future__ import annotations

import hmac

from prometheus_client import CollectorRegistry, Counter, Histogram

from api.platform_metrics import DagsterRuns, PlatformCollector, dagster_home, default_sources
from resources.sheets_budget import DEFAULT_BURST
from settings import Settings

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    def __init__(self, settings: Settings) -> None:
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
        home = dagster_home(settings.home)
        self.registry.register(
            PlatformCollector(
                settings.app_database_url,
                default_sources(settings.sheets_writes_per_minute, DEFAULT_BURST),
                DagsterRuns(home) if home else None,
            )
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)


def metrics_allowed(settings: Settings, authorization: str | None) -> bool:
    """Who may read /metrics: anyone on the embedded default (it listens on loopback); in
    production only a scraper sending `Authorization: Bearer <metrics_token>`; with no token set
    there, nobody (the per-tenant and per-route figures are not for the internet). A refusal is a
    404, so the endpoint is not even seen to exist."""
    if settings.environment != "production":
        return True
    if not settings.metrics_token or not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    expected = settings.metrics_token.encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)

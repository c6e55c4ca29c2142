"""Time of one Prometheus scrape of the API's /metrics at platform scale.

    uv run python bench/bench_metrics.py [--tenants 1000] [--syncs 100000] [--scrapes 50]

A throwaway PostgreSQL database (TEST_DATABASE_URL's server) gets the migrated app schema,
`--tenants` tenants spread over the tiers (with subscriptions), `--syncs` finished sync records
over the last 30 days, a marketplace-calls row per endpoint family of each sync, a load row per
sync, a Sheets publish per sync and the Sheets budget. An empty Dagster instance (SQLite) answers
the run counts. Each scrape is a GET /metrics through the ASGI app, as Prometheus would make it;
side by side, the same app's scrape with only the HTTP metrics (the floor). Target: < 100 ms.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client import generate_latest  # noqa: E402

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TIERS = ("starter", "pro", "enterprise")
FAMILIES = {
    "wildberries": ("content.cards_list", "analytics.stocks_report_wb", "statistics.orders", "ping"),
    "ozon": ("ozon.all", "ozon.analytics_stocks", "ozon.analytics_turnover"),
}


def _copy(conn: psycopg.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(url: str, tenants: int, syncs: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        ids = [f"tenant-{i:05d}" for i in range(tenants)]
        tiers = {t: rng.choice(TIERS) for t in ids}
        _copy(
            conn,
            "tenants",
            ["id", "name", "tier", "status", "locale", "timezone", "orders_window_days", "low_stock_days",
             "created_at", "updated_at"],
            [(t, t, tiers[t], "active", "ru", "Europe/Moscow", 7, 14, now - timedelta(days=60), now)
             for t in ids],
        )  # fmt: skip
        _copy(
            conn,
            "subscriptions",
            ["tenant_id", "tier", "status"],
            [(t, tiers[t], rng.choice(("trialing", "active", "past_due", "canceled"))) for t in ids[::2]],
        )
        runs, calls, loads, publishes = [], [], [], []
        for n in range(syncs):
            tenant = rng.choice(ids)
            started = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
            status = rng.choices(("success", "failed", "skipped"), (90, 8, 2))[0]
            run_id = uuid.UUID(int=rng.getrandbits(128)).hex
            runs.append((tenant, run_id, "schedule", tiers[tenant], status, started,
                         started + timedelta(seconds=rng.uniform(20, 900)), None, None))  # fmt: skip
            marketplace = "wildberries" if n % 3 else "ozon"
            for family in FAMILIES[marketplace]:
                calls.append((run_id, tenant, marketplace, family, rng.randint(1, 40), rng.randint(0, 2),
                              rng.randint(0, 1), rng.randint(0, 3), started))  # fmt: skip
            loads.append((run_id, tenant, marketplace, rng.randint(100, 20000), started))
            outcome = rng.choice(("published", "unchanged", "failed"))
            publishes.append(("sa@bench.iam.gserviceaccount.com", outcome, rng.randint(0, 3), None, started))
        _copy(conn, "sync_runs",
              ["tenant_id", "run_id", "trigger", "tier", "status", "started_at", "finished_at", "counts",
               "error"], runs)  # fmt: skip
        _copy(conn, "marketplace_calls",
              ["run_id", "tenant_id", "marketplace", "family", "requests", "throttled", "server_errors",
               "retries", "recorded_at"], calls)  # fmt: skip
        _copy(
            conn,
            "marketplace_loads",
            ["run_id", "tenant_id", "marketplace", "rows_loaded", "recorded_at"],
            loads,
        )
        _copy(
            conn,
            "sheet_publishes",
            ["service_account", "outcome", "writes", "error", "published_at"],
            publishes,
        )
        _copy(
            conn,
            "sheets_write_budget",
            ["service_account", "tokens", "updated_at"],
            [
                ("sa@bench.iam.gserviceaccount.com", 3.5, now),
                ("sa@bench.iam.gserviceaccount.com#reads", 9.0, now),
            ],
        )
        conn.commit()
    _totals_as_written(url, runs, calls, loads, publishes)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
        print(
            f"seeded {tenants} tenants, {syncs} sync records, {len(calls)} marketplace-call rows", flush=True
        )


def _totals_as_written(url: str, runs: list, calls: list, loads: list, publishes: list) -> None:
    """What the writers keep beside these records: the running totals (warehouse/counters.py) and
    each tenant's last good sync (tenant_sync_state)."""
    from warehouse import counters
    from warehouse.app_db import session_factory
    from warehouse.telemetry import DURATION_BUCKETS

    increments: dict = {}

    def bump(name: str, value: float, **labels: str) -> None:
        k = counters.key(name, **labels)
        increments[k] = increments.get(k, 0.0) + value

    for _, _, _, tier, status, started, finished, _, _ in runs:
        seconds = (finished - started).total_seconds()
        bump("syncs", 1, tier=tier, outcome=status)
        bump("sync_duration_count", 1, tier=tier)
        bump("sync_duration_sum", seconds, tier=tier)
        bump("sync_duration_bucket", 1, tier=tier, le="+Inf")
        for bound in DURATION_BUCKETS:
            if seconds <= bound:
                bump("sync_duration_bucket", 1, tier=tier, le=str(bound))
    for _, _, marketplace, family, requests, throttled, server_errors, retries, _ in calls:
        for name, value in (("requests", requests), ("throttled", throttled),
                            ("server_errors", server_errors), ("retries", retries)):  # fmt: skip
            bump(f"marketplace_{name}", value, marketplace=marketplace, family=family)
    for _, _, marketplace, rows, _ in loads:
        bump("rows_loaded", rows, marketplace=marketplace)
    for _, outcome, writes, _, _ in publishes:
        bump("sheet_publishes", 1, outcome=outcome)
        bump("sheet_writes", writes)
    last: dict[str, datetime] = {}
    for tenant, _, _, _, status, _, finished, _, _ in runs:
        if status == "success" and finished > last.get(tenant, finished - timedelta(days=1)):
            last[tenant] = finished
    with session_factory(url)() as session:
        counters.add(session, increments)
        session.commit()
    with psycopg.connect(url) as conn:
        _copy(conn, "tenant_sync_state", ["tenant_id", "last_success_at"], sorted(last.items()))
        conn.commit()


def time_scrapes(client: TestClient, scrapes: int) -> list[float]:
    for _ in range(3):  # warm: connection pool, query plans, the Dagster instance
        assert client.get("/metrics").status_code == 200
    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        response = client.get("/metrics")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--syncs", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()

    from api.main import create_app
    from settings import Settings
    from warehouse.app_db import engine_for, migrate

    name = f"st_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        migrate(url)
        seed(url, args.tenants, args.syncs, random.Random(7))
        with tempfile.TemporaryDirectory() as scratch:
            home = Path(scratch)
            (home / "dagster").mkdir()
            (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            os.environ["DAGSTER_HOME"] = str(home / "dagster")
            settings = Settings(
                home=home,
                app_database_url=url,
                warehouse_url=f"duckdb:///{home}/{{tenant}}.duckdb",
                encryption_keys=Fernet.generate_key().decode(),
                jwt_secret="b" * 48,
            )
            app = create_app(settings)
            with TestClient(app) as client:
                full = time_scrapes(client, args.scrapes)
                body = client.get("/metrics").text
                registry = app.state.metrics.registry
                # The floor: the same app's HTTP metrics alone, rendered the same way.
                for collector in list(registry._collector_to_names):
                    if type(collector).__name__ == "PlatformCollector":
                        registry.unregister(collector)
                floor = []
                for _ in range(args.scrapes):
                    started = time.perf_counter()
                    generate_latest(registry)
                    floor.append((time.perf_counter() - started) * 1000)
            series = sum(1 for line in io.StringIO(body) if line and not line.startswith("#"))
            median, floor_median = statistics.median(full), statistics.median(floor)
            p95 = sorted(full)[int(0.95 * len(full)) - 1]
            n = args.scrapes
            print(f"/metrics, {args.tenants} tenants, {args.syncs} sync records: {series} series")
            print(f"scrape: median {median:.1f} ms, p95 {p95:.1f} ms, max {max(full):.1f} ms ({n} scrapes)")
            print(
                f"HTTP metrics only: median {floor_median:.2f} ms ({median / max(floor_median, 1e-6):.0f}×)"
            )
            verdict = "met" if median < 100 else "MISSED"
            print(f"target < 100 ms: {verdict} (load average {os.getloadavg()[0]:.1f})")
        engine_for(url).dispose()
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

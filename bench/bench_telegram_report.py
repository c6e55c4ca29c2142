"""Telegram report benchmark: building a report from the stock model and rendering its chart,
per report, for the demo's sellers after real syncs and for a synthetic 10 000-product seller.

    uv run python bench/bench_telegram_report.py [--repeat 20]

"build" is what the report step does before sending: read the tenant's model (StockReader),
lay out its grids (the sheet's own build_grid, plan limit applied), gather the totals and the
urgent list, read the urgent products' 14-day history. "text" words it (message + caption, HTML,
Telegram's limits). "chart" renders the PNG with matplotlib's Agg canvas. Printed: median and p95
per report, and the PNG size. The delivery side (1 000 tenants through the paced sender, 429s,
time against the 30 messages/s floor) is bench/bench_telegram.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.bot.chart import render_chart  # noqa: E402
from api.bot.report import (  # noqa: E402
    facts_for,
    report_caption,
    report_facts,
    report_text,
    tenant_grids,
    urgent_history,
)
from warehouse.sheet_layout import build_grid  # noqa: E402
from warehouse.stock_reads import StockReader  # noqa: E402


def timed(repeat: int, work: Callable[[], Any]) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def row(label: str, seconds: list[float], extra: str = "") -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"  {label:<8} median {1000 * statistics.median(seconds):8.1f} ms   p95 {1000 * p95:8.1f} ms  {extra}"
    )


def synced_tenants(home: Path) -> tuple[str, list[Any]]:
    """The demo scenario's sellers, each synced twice through the Dagster job (two snapshots)."""
    from cryptography.fernet import Fernet
    from dagster import DagsterInstance

    from assets.runs import run_sync
    from cli.demo import DEMO_TIME_SCALE, demo_scenario
    from definitions import build_definitions
    from sandbox.server import SandboxServer
    from settings import Settings
    from warehouse.app_db import migrate, session_factory
    from warehouse.tenants import active_tenants, create_tenant, store_credentials
    from warehouse.vault import CredentialVault

    key = Fernet.generate_key().decode()
    scenario = demo_scenario()
    with SandboxServer(scenario, time_scale=DEMO_TIME_SCALE) as server:  # type: ignore[arg-type]
        settings = Settings(
            home=home,
            app_database_url=f"sqlite:///{home}/app.db",
            warehouse_url=f"duckdb:///{home}/warehouse/{{tenant}}.duckdb",
            encryption_keys=key,
            marketplace_time_scale=DEMO_TIME_SCALE,
        ).sandbox_urls(server.urls)
        migrate(settings.app_database_url)
        vault = CredentialVault([key])
        with session_factory(settings.app_database_url)() as session:
            for seller in scenario["sellers"]:
                if seller["marketplace"] == "wildberries":
                    create_tenant(session, seller["name"], seller["name"], tier="enterprise")
                store_credentials(
                    session,
                    vault,
                    seller["name"],
                    seller["marketplace"],
                    seller["credentials"],
                    status="valid",
                )
            tenants = active_tenants(session)
        os.environ["STOCK_TRACKER_ENCRYPTION_KEYS"] = key
        defs = build_definitions(settings)
        (home / "dagster").mkdir()
        with DagsterInstance.local_temp(str(home / "dagster")) as instance:
            for tenant in tenants:
                for _ in range(2):
                    assert run_sync(defs, instance, tenant, "cli").success
    return settings.warehouse_url, tenants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    threshold = 14
    with tempfile.TemporaryDirectory() as scratch:
        print("syncing the demo's sellers twice each (sandbox, DuckDB)…", flush=True)
        url, tenants = synced_tenants(Path(scratch))
        for tenant in tenants:
            now = datetime.now(UTC)

            def build(tenant: Any = tenant, now: datetime = now) -> tuple[Any, Any]:
                with StockReader(url, tenant.id) as reader:
                    grids, left_out = tenant_grids(reader.metrics(), tenant)
                    facts = facts_for(grids, tenant, now, left_out)
                    return facts, urgent_history(reader, facts, threshold, now)

            build_s, (facts, history) = timed(args.repeat, build)
            text_s, _ = timed(args.repeat, lambda facts=facts: (report_text(facts), report_caption(facts)))
            chart_s, chart = timed(
                args.repeat, lambda facts=facts, history=history: render_chart(facts, history=history)
            )
            t = facts.totals
            print(
                f"{tenant.id}: {t.products} products, {len(facts.groups)} warehouse groups, "
                f"{len(facts.urgent(threshold))} urgent, {len(history)} history lines"
            )
            print(row("build", build_s))
            print(row("text", text_s))
            print(row("chart", chart_s, f"PNG {len(chart.png) / 1024:.0f} KiB"))

    from bench.bench_sheet import synthesize

    frame = synthesize(10_000, 60)
    started = time.perf_counter()
    grid = build_grid(frame, marketplace="wildberries")
    grid_seconds = time.perf_counter() - started
    build_s, facts = timed(
        args.repeat, lambda: report_facts([grid], seller="Синтетический продавец", built_at=datetime.now(UTC))
    )
    text_s, _ = timed(args.repeat, lambda: (report_text(facts), report_caption(facts)))
    chart_s, chart = timed(args.repeat, lambda: render_chart(facts))
    print(
        f"synthetic: {facts.totals.products} products × {len(facts.groups)} warehouse groups "
        f"(grid built once in {1000 * grid_seconds:.0f} ms, as the sheet step does)"
    )
    print(row("build", build_s, "(facts from the grid)"))
    print(row("text", text_s))
    print(row("chart", chart_s, f"PNG {len(chart.png) / 1024:.0f} KiB"))


if __name__ == "__main__":
    main()

"""Ingestion benchmark: rows/s of a full WB sync into PostgreSQL and DuckDB, side by side with a
plain COPY of the same rows into PostgreSQL, and HTTP requests per sync.

    uv run python bench/bench_ingest.py [--skus 10000] [--warehouses 40] [--request-skus 1000 10000]

PostgreSQL is loaded `--rounds` times, each load into its own dataset, and the best normalize +
load time counts (the machine is shared). The COPY floor is the rows that load wrote, every
source column with its type, read back and COPYed into bare tables (best of as many rounds); the
old floor, five stock columns as text, is printed beside it for earlier figures. BENCH_STEPS=1
prints dlt's steps and jobs.

The sandbox runs time-scaled (limits 1000× faster) so the marketplace's pacing does not hide the
loading cost; at real speed a sync is bound by WB's limits (order-feed: 1 page a minute).
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import requests

from pipelines.destination import tenant_pipeline
from pipelines.http_policy import HttpPolicy
from pipelines.runner import run_source
from pipelines.wildberries import wildberries_source
from pipelines.wildberries.helpers import WbUrls
from sandbox.generate import generate_scenario
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SCALE = 1000.0


def sync(
    server: SandboxServer,
    token: str,
    url: str,
    workdir: Path,
    tenant: str = "bench",
) -> tuple[float, float, float, int, dict[str, int]]:
    """One full sync; returns (whole seconds, CPU seconds of this process, normalize+load seconds,
    rows, rows per table). The sandbox serves from a thread of this process: its CPU counts too."""
    pipeline = tenant_pipeline(tenant, "wildberries", url, workdir / uuid.uuid4().hex)

    def source() -> object:
        return wildberries_source(
            token,
            tenant,
            datetime.now(UTC),
            WbUrls.from_sandbox(server.urls),
            30,
            HttpPolicy(time_scale=SCALE),
        )

    started, cpu = time.perf_counter(), time.process_time()
    loaded = run_source(pipeline, source).rows
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if os.environ.get("BENCH_STEPS"):
        for step in pipeline.last_trace.steps:
            print("   step", step.step, round((step.finished_at - step.started_at).total_seconds(), 2))
        info = pipeline.last_trace.last_load_info
        for package in info.load_packages if info else []:
            for job in package.jobs["completed_jobs"]:
                print(
                    "   job",
                    job.job_file_info.table_name,
                    job.job_file_info.file_format,
                    round(job.elapsed, 2),
                )
    writing = sum(
        (step.finished_at - step.started_at).total_seconds()
        for step in pipeline.last_trace.steps
        if step.step in ("normalize", "load")
    )
    return elapsed, cpu, writing, sum(loaded.values()), loaded


def copy_loaded(url: str, dataset: str, tables: list[str], rounds: int) -> tuple[int, float]:
    """The floor for the same rows: every source column of the tables dlt loaded (not dlt's own
    `_dlt_*` columns), read back as COPY text, then COPYed into bare tables of the same column
    types in one transaction. Returns (rows, best seconds of the COPYs over `rounds`)."""
    dumps: dict[str, tuple[str, bytes]] = {}
    with psycopg.connect(url) as conn:
        for table in tables:
            columns = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s"
                    " and table_name = %s and column_name not like '\\_dlt\\_%%' order by ordinal_position",
                    (dataset, table),
                )
            ]
            names = ", ".join(f'"{c}"' for c in columns)
            buffer = io.BytesIO()
            with conn.cursor().copy(f'copy (select {names} from "{dataset}"."{table}") to stdout') as out:
                for chunk in out:
                    buffer.write(chunk)
            dumps[table] = (names, buffer.getvalue())
        rows = sum(data.count(b"\n") for _, data in dumps.values())
        best = float("inf")
        for _ in range(rounds):
            for table, (names, _) in dumps.items():
                conn.execute(f'drop table if exists "copy_{table}"')
                conn.execute(
                    f'create table "copy_{table}" as select {names} from "{dataset}"."{table}" with no data'
                )
            conn.commit()
            started = time.perf_counter()
            for table, (names, data) in dumps.items():
                with conn.cursor().copy(f'copy "copy_{table}" ({names}) from stdin') as copy:
                    copy.write(data)
            conn.commit()
            best = min(best, time.perf_counter() - started)
        return rows, best


def copy_rows(url: str, rows: list[dict]) -> float:
    """The old floor (kept for comparison with earlier figures): the stock rows' five numeric
    columns as text through one COPY into a bare table."""
    columns = list(rows[0])
    with psycopg.connect(url) as conn:
        conn.execute("create table copy_stock (" + ", ".join(f'"{c}" text' for c in columns) + ")")
        started = time.perf_counter()
        with conn.cursor().copy(f"copy copy_stock ({', '.join(columns)}) from stdin") as copy:
            buffer = io.StringIO()
            for row in rows:
                buffer.write("\t".join("" if row[c] is None else str(row[c]) for c in columns) + "\n")
            copy.write(buffer.getvalue())
        conn.commit()
        return time.perf_counter() - started


def requests_per_sync(skus: int, workdir: Path) -> Counter[str]:
    scenario = parse_scenario(orjson.dumps(generate_scenario(sellers=1, skus=skus, warehouses=40, seed=2)))
    with SandboxServer(scenario, time_scale=SCALE) as server:
        sync(
            server,
            scenario["sellers"][0]["credentials"]["token"],
            f"duckdb:///{workdir}/r{skus}.duckdb",
            workdir,
        )
        log = requests.get(server.control_url + "/requests", timeout=30).json()
    return Counter(e["path"] for e in log)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--warehouses", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--request-skus", type=int, nargs="*", default=[1000, 10_000])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    scenario = parse_scenario(
        orjson.dumps(generate_scenario(sellers=1, skus=args.skus, warehouses=args.warehouses, seed=1))
    )
    seller = scenario["sellers"][0]
    token = seller["credentials"]["token"]
    db = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'create database "{db}"')
    pg = ADMIN.rsplit("/", 1)[0] + "/" + db
    try:
        with SandboxServer(scenario, time_scale=SCALE) as server:
            duck_s, _, duck_write, duck_rows, rows = sync(
                server, token, f"duckdb:///{workdir}/w.duckdb", workdir
            )
            # the round with the fastest normalize + load: (whole s, CPU s, normalize + load s, rows)
            pg_s, pg_cpu, pg_write, pg_rows = float("inf"), 0.0, float("inf"), 0
            for round_ in range(args.rounds):
                whole, cpu, write, count, _ = sync(server, token, pg, workdir, f"bench{round_}")
                if write < pg_write:
                    pg_s, pg_cpu, pg_write, pg_rows = whole, cpu, write, count
        stock_rows = [
            {
                "chrt_id": s["chrt_id"],
                "warehouse_id": s["warehouse_id"],
                "quantity": s["quantity"],
                "in_way_to_client": s.get("in_way_to_client", 0),
                "in_way_from_client": s.get("in_way_from_client", 0),
            }
            for s in seller["stocks"]
        ]
        copy_s = copy_rows(pg, stock_rows)
        floor_rows, floor_s = copy_loaded(pg, "t_bench0", list(rows), args.rounds)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{db}" with (force)')

    def line(label: str, count: int, seconds: float) -> None:
        print(f"{label:<40}{count:>10}{seconds:>10.2f}{count / seconds:>12.0f}")

    print(f"scenario: {args.skus} SKUs × {args.warehouses} warehouses; rows per sync: {rows}")
    load = Path("/proc/loadavg").read_text()[:14]
    print(f"PostgreSQL: best of {args.rounds} rounds; load average {load}")
    print(f"{'what':<40}{'rows':>10}{'seconds':>10}{'rows/s':>12}")
    line("full sync (HTTP + load) → DuckDB", duck_rows, duck_s)
    line("full sync (HTTP + load) → PostgreSQL", pg_rows, pg_s)
    line("dlt normalize + load → DuckDB", duck_rows, duck_write)
    line("dlt normalize + load → PostgreSQL", pg_rows, pg_write)
    line("COPY of the same rows → PostgreSQL", floor_rows, floor_s)
    line("old floor: COPY of 5 stock columns", len(stock_rows), copy_s)
    print(
        f"full sync → PostgreSQL: {pg_cpu:.1f} CPU s in {pg_s:.1f} s wall (client and sandbox share "
        f"this process), of which normalize + load {pg_write:.1f} s"
    )
    print(f"COPY rows/s ÷ dlt→PostgreSQL rows/s: {floor_rows / floor_s / (pg_rows / pg_write):.1f}")
    print(f"old floor ÷ dlt→PostgreSQL rows/s: {len(stock_rows) / copy_s / (pg_rows / pg_write):.1f}")
    for skus in args.request_skus:
        counts = requests_per_sync(skus, workdir)
        print(f"HTTP requests per sync, {skus} SKUs: {sum(counts.values())} {dict(counts)}")


if __name__ == "__main__":
    main()

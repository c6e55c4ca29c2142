"""`GET /api/v1/products/` of a 10 000-product tenant under load, next to a trivial FastAPI endpoint.

    uv run python bench/bench_api.py [--products 10000] [--warehouses 8] [--seconds 10]
                                     [--concurrency 32] [--warehouse duckdb|postgres]

Both servers run the same way (uvicorn, one worker, each in its own process) on loopback, measured
in alternating slices (`--rounds`) so both see the same load on a shared machine; the load
generator (aiohttp, keep-alive, `--concurrency` requests in flight) runs in this process.
The API runs as `stock-tracker api` serves it: JSON access logs on (to /dev/null), auth, rate
limit, tenant-scoped reads; the tenant (on the enterprise plan, so the whole catalogue is listed)
has its stock model seeded straight into the mart (10 000 products × `--warehouses` warehouses).
The app database is the embedded default (SQLite) unless `--app-db` names a PostgreSQL database.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi import FastAPI  # noqa: E402

trivial = FastAPI()


@trivial.get("/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_mart(warehouse_url: str, tenant: str, products: int, warehouses: int) -> int:
    """`products` × `warehouses` rows of the current model, plus one snapshot, generated in SQL."""
    from warehouse.mart import Mart

    url = warehouse_url.replace("{tenant}", tenant)
    mart = Mart(url, tenant)
    mart.ensure_schema()
    mart.close()
    metrics = f"""
        insert into mart.stock_metrics
        select '{tenant}', 'wildberries', now(), 7, 100000 + p, 'ART-' || lpad(cast(p as text), 6, '0'),
               'Brand ' || cast(p % 40 as text), 'Subject ' || cast(p % 90 as text),
               'Product ' || cast(p as text), 'Warehouse ' || cast(w as text), 'FBO',
               (p * 7 + w * 13) % 120, p % 3, p % 2, (p + w) % 9,
               case when (p + w) % 9 = 0 then null
                    else round(cast(((p * 7 + w * 13) % 120) * 7 as numeric) / ((p + w) % 9), 1) end
        from generate_series(1, {products}) as a(p), generate_series(1, {warehouses}) as b(w)"""
    snapshot = f"""
        insert into mart.stock_snapshot
        select '{tenant}', 'wildberries', now(), 100000 + p, 100000 + p, '0',
               'ART-' || lpad(cast(p as text), 6, '0'), 'Brand', 'Subject', 'Product',
               'Warehouse ' || cast(w as text), 'FBO', (p * 7 + w * 13) % 120, 0, 0
        from generate_series(1, {products}) as a(p), generate_series(1, {warehouses}) as b(w)"""
    if url.startswith("duckdb:///"):
        import duckdb

        with duckdb.connect(url.removeprefix("duckdb:///")) as conn:
            conn.execute(metrics)
            conn.execute(snapshot)
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            conn.execute(metrics)
            conn.execute(snapshot)
    return products * warehouses


def serve(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--no-access-log", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server on port {port} did not start")


async def load(
    url: str, headers: dict[str, str], seconds: float, concurrency: int
) -> tuple[list[float], int]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    terms = itertools.cycle(range(100, 1000))  # "{n}" in a URL: a new question each request

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            async with session.get(url.replace("{n}", str(next(terms))), headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return latencies, errors


def measure(
    targets: list[tuple[str, str, dict[str, str]]], seconds: float, concurrency: int, rounds: int
) -> list[dict]:
    """Each target for `seconds` in all, in `rounds` alternating slices: the machine is shared,
    so every target sees the same load over the run (a ratio of two runs minutes apart measures
    the neighbours)."""
    for _, url, headers in targets:
        asyncio.run(load(url, headers, min(2.0, seconds / 3), concurrency))  # warm-up
    gathered: dict[str, tuple[list[float], int]] = {name: ([], 0) for name, _, _ in targets}
    for _ in range(rounds):
        for name, url, headers in targets:
            latencies, errors = asyncio.run(load(url, headers, seconds / rounds, concurrency))
            previous, counted = gathered[name]
            gathered[name] = (previous + latencies, counted + errors)
    results = []
    for name, _, _ in targets:
        latencies, errors = gathered[name]
        ordered = sorted(latencies)
        result = {
            "name": name,
            "rps": len(latencies) / seconds,
            "p50": statistics.median(ordered) * 1000,
            "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000,
            "requests": len(latencies),
            "errors": errors,
        }
        print(
            f"{name:<50} {result['rps']:8.0f} req/s   p50 {result['p50']:7.2f} ms   "
            f"p99 {result['p99']:7.2f} ms   ({result['requests']} requests, {errors} non-200)",
            flush=True,
        )
        results.append(result)
    return results


@contextmanager
def scratch_database(args: argparse.Namespace) -> Iterator[str]:
    if args.warehouse != "postgres":
        yield ""
        return
    import uuid

    import psycopg

    name = f"bench_api_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{args.pg_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(args.pg_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--warehouses", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices per target")
    parser.add_argument("--warehouse", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument(
        "--profile", default="", help="py-spy the API during the first measurement into this SVG/txt file"
    )
    parser.add_argument("--app-db", default="", help="PostgreSQL URL for the app database (default: SQLite)")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server for --warehouse postgres (a scratch database is made there and dropped)",
    )
    args = parser.parse_args()

    import httpx

    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch, scratch_database(args) as pg_url:
        home = Path(scratch)
        app_db = args.app_db or f"sqlite:///{home / 'app.db'}"
        warehouse_url = (
            pg_url if args.warehouse == "postgres" else f"duckdb:///{home}/warehouse/{{tenant}}.duckdb"
        )
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "STOCK_TRACKER_HOME": str(home),
            "STOCK_TRACKER_APP_DATABASE_URL": app_db,
            "STOCK_TRACKER_WAREHOUSE_URL": warehouse_url,
            "STOCK_TRACKER_RATE_LIMIT_TENANT": "10000000/minute",
            "STOCK_TRACKER_API_LOG_LEVEL": os.environ.get("BENCH_LOG", "INFO"),
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("STOCK_TRACKER_")})
        from warehouse.app_db import migrate

        migrate(app_db)
        api_port, trivial_port = free_port(), free_port()
        api = serve(["api.main:served_app", "--factory"], env, api_port)
        try:
            base = f"http://127.0.0.1:{api_port}/api/v1"
            registered = httpx.post(
                f"{base}/auth/register",
                json={
                    "email": "bench@example.com",
                    "password": "bench password",
                    "tenant_name": "Bench Shop",
                },
            ).json()
            tenant = registered["user"]["tenant_id"]
            # The whole catalogue is listed on the enterprise plan (a starter plan shows 100).
            from warehouse.app_db import session_factory
            from warehouse.tenants import set_tier

            with session_factory(app_db)() as session:
                set_tier(session, tenant, "enterprise")
            rows = seed_mart(warehouse_url, tenant, args.products, args.warehouses)
            headers = {"Authorization": f"Bearer {registered['access_token']}"}
            first = httpx.get(f"{base}/products/", headers=headers).json()
            assert first["total"] == args.products, first
            app_kind = "PostgreSQL" if args.app_db else "SQLite"
            print(
                f"tenant {tenant}: {args.products} products × {args.warehouses} warehouses = {rows} "
                f"model rows ({args.warehouse} warehouse, {app_kind} app db); "
                f"{args.concurrency} connections, {args.seconds:g} s each, loopback, 1 uvicorn worker",
                flush=True,
            )
            spy = None
            if args.profile:
                spy = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(api.pid), "--duration", str(int(args.seconds * 3) + 6),
                     "--format", "raw" if args.profile.endswith(".txt") else "flamegraph",
                     "--output", args.profile, "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            trivial_server = serve(["bench_api:trivial", "--app-dir", str(REPO / "bench")], env, trivial_port)
            try:
                results = measure(
                    [
                        ("GET /api/v1/products/ (page 1 of 50)", f"{base}/products/", headers),
                        (
                            "GET /api/v1/products/?search=ART-0099&sort=-stock",
                            f"{base}/products/?search=ART-0099&sort=-stock",
                            headers,
                        ),
                        (
                            "… a new search each request (ART-00100…999)",
                            f"{base}/products/?search=ART-00{{n}}&sort=-stock",
                            headers,
                        ),
                        ("GET /ping (trivial FastAPI endpoint)", f"http://127.0.0.1:{trivial_port}/ping", {}),
                    ],
                    args.seconds,
                    args.concurrency,
                    args.rounds,
                )
            finally:
                trivial_server.terminate()
                trivial_server.wait(timeout=20)
            if spy is not None:
                spy.wait(timeout=60)
        finally:
            api.terminate()
            api.wait(timeout=20)
        products, baseline = results[0], results[-1]
        print(
            f"products list vs trivial endpoint: {products['rps'] / baseline['rps']:.2f}× the throughput, "
            f"{products['p50'] / baseline['p50']:.1f}× the median latency"
        )


if __name__ == "__main__":
    main()

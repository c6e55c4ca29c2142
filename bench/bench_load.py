"""Sustained mixed load on the API: a fixed arrival rate of reads and writes, errors, p99 and the
workers' memory before and after.

    uv run python bench/bench_load.py [--rate 500] [--seconds 60] [--workers 2] [--tenants 20]

The API runs as `stock-tracker api --workers N` serves it (uvicorn, JSON access logs to /dev/null)
against a scratch PostgreSQL app database and DuckDB marts, on loopback. The load is open-loop:
requests start on a fixed schedule (`--rate` per second) whether or not earlier ones finished, so
a slow server shows up as latency and errors, not as a politely lower rate. The mix, over
`--tenants` signed-in sellers (on the enterprise plan): 40 % `GET /auth/me`, 30 % `GET /products/`,
10 % `GET /products/` with a search, 20 % `PATCH /tenants/me` (a write). RSS is the sum over the
uvicorn processes, read from /proc after a warm-up and again after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_api import free_port, scratch_database, seed_mart  # noqa: E402

PASSWORD = "bench load password"


def tree_rss_kib(pid: int) -> int:
    """Resident memory of `pid` and its children (the uvicorn workers), KiB."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def enterprise_seller(base: str, env: dict[str, str], app_db: str, name: str, products: int) -> str:
    """A signed-up seller on the enterprise plan with `products` products in the mart; its access
    token. Enterprise: 100 000 API calls a month. A trial's 1 000 are used up by a load run's
    ~1 500 calls per seller, and the quota's 429s are not what these benches measure."""
    import httpx

    from warehouse.app_db import session_factory
    from warehouse.tenants import set_tier

    made = httpx.post(
        f"{base}/auth/register",
        json={"email": f"{name}@example.com", "password": PASSWORD, "tenant_name": name.title()},
        timeout=30,
    ).json()
    with session_factory(app_db)() as session:
        set_tier(session, made["user"]["tenant_id"], "enterprise")
    seed_mart(env["STOCK_TRACKER_WAREHOUSE_URL"], made["user"]["tenant_id"], products, 4)
    return str(made["access_token"])


def api_environment(home: Path, app_db: str) -> dict[str, str]:
    """The API's environment for a load bench (limits out of the way, tokens that outlast the run),
    also set in this process so the bench's own database calls see the same settings; migrates."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "STOCK_TRACKER_HOME": str(home),
        "STOCK_TRACKER_APP_DATABASE_URL": app_db,
        "STOCK_TRACKER_WAREHOUSE_URL": f"duckdb:///{home}/warehouse/{{tenant}}.duckdb",
        "STOCK_TRACKER_RATE_LIMIT_TENANT": "10000000/minute",
        "STOCK_TRACKER_RATE_LIMIT_AUTH": "10000000/minute",
        "STOCK_TRACKER_ACCESS_TOKEN_MINUTES": "60",
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("STOCK_TRACKER_")})
    from warehouse.app_db import migrate

    migrate(app_db)
    return env


def start_api(env: dict[str, str], port: int, workers: int):  # type: ignore[no-untyped-def]
    import httpx

    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:served_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health/live", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the API did not start")


async def run_load(base: str, sellers: list[dict[str, str]], rate: float, seconds: float) -> dict:
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures = 0
    kinds: dict[str, int] = {}
    rng = random.Random(7)

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal failures
        seller = sellers[n % len(sellers)]
        headers = {"Authorization": f"Bearer {seller['access']}"}
        pick = rng.random()
        started = time.perf_counter()
        try:
            if pick < 0.4:
                request = session.get(f"{base}/auth/me", headers=headers)
            elif pick < 0.7:
                request = session.get(f"{base}/products/", headers=headers)
            elif pick < 0.8:
                request = session.get(
                    f"{base}/products/?search=ART-00{n % 90:02d}&sort=-stock", headers=headers
                )
            else:
                body = {"low_stock_days": 1 + n % 60}
                request = session.patch(f"{base}/tenants/me", json=body, headers=headers)
            async with request as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
        except Exception as exc:  # no answer at all: counted as an error, by kind
            failures += 1
            kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
            return
        latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = []
        started = time.perf_counter()
        total = int(rate * seconds)
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, n)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    errors = failures + sum(count for status, count in statuses.items() if status >= 400)
    return {
        "requests": total,
        "elapsed": elapsed,
        "rps": total / elapsed,
        "statuses": dict(sorted(statuses.items())),
        "no_answer": kinds,
        "errors": errors,
        "p50": statistics.median(ordered) * 1000 if ordered else float("nan"),
        "p99": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000 if ordered else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    args.warehouse = "postgres"  # scratch_database() makes the app database

    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch, scratch_database(args) as app_db:
        home = Path(scratch)
        env = api_environment(home, app_db)

        port = free_port()
        api = start_api(env, port, args.workers)
        try:
            base = f"http://127.0.0.1:{port}/api/v1"
            sellers = []
            for i in range(args.tenants):
                sellers.append({"access": enterprise_seller(base, env, app_db, f"load{i}", args.products)})
            asyncio.run(run_load(base, sellers, min(args.rate, 200), 5))  # warm-up: caches, pools
            rss_before = tree_rss_kib(api.pid)
            result = asyncio.run(run_load(base, sellers, args.rate, args.seconds))
            rss_after = tree_rss_kib(api.pid)
            report(args, result, rss_before, rss_after)
        finally:
            api.terminate()
            try:
                api.wait(timeout=30)
            except subprocess.TimeoutExpired:
                api.kill()


def report(args: argparse.Namespace, result: dict, rss_before: int, rss_after: int) -> None:
    growth = (rss_after - rss_before) / rss_before * 100
    print(
        f"{args.rate:g} req/s target for {args.seconds:g} s, {args.workers} uvicorn workers, "
        f"{args.tenants} tenants (PostgreSQL app db, DuckDB marts), loopback\n"
        f"sent {result['requests']} in {result['elapsed']:.1f} s = {result['rps']:.0f} req/s; "
        f"statuses {result['statuses']}; no answer {result['no_answer']}; errors {result['errors']}\n"
        f"latency p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms\n"
        f"RSS (all uvicorn processes) before {rss_before / 1024:.1f} MiB, after {rss_after / 1024:.1f} MiB "
        f"({growth:+.1f} %)",
        flush=True,
    )


if __name__ == "__main__":
    main()

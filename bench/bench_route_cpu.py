"""Worker CPU per request, route by route: which route of bench_load's mix is the expensive one.

    uv run python bench/bench_route_cpu.py [--requests 1000] [--tenants 5]

One uvicorn worker (started as bench_load starts it), closed-loop requests from one client, the
worker's user+system CPU read from /proc/<pid>/stat before and after each route's run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_api import free_port, scratch_database  # noqa: E402
from bench_load import api_environment, enterprise_seller, start_api  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (fields 14 and 15 of /proc/<pid>/stat), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    args.warehouse = "postgres"

    import httpx

    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as scratch, scratch_database(args) as app_db:
        home = Path(scratch)
        env = api_environment(home, app_db)

        port = free_port()
        api = start_api(env, port, 1)
        try:
            base = f"http://127.0.0.1:{port}/api/v1"
            tokens = []
            for i in range(args.tenants):
                tokens.append(enterprise_seller(base, env, app_db, f"cpu{i}", args.products))
            routes = {
                "GET /auth/me": lambda c, n, h: c.get(f"{base}/auth/me", headers=h),
                "GET /products/": lambda c, n, h: c.get(f"{base}/products/", headers=h),
                "GET /products/?search": lambda c, n, h: c.get(
                    f"{base}/products/?search=ART-00{n % 90:02d}&sort=-stock", headers=h
                ),
                "PATCH /tenants/me": lambda c, n, h: c.patch(
                    f"{base}/tenants/me", json={"low_stock_days": 1 + n % 60}, headers=h
                ),
            }
            with httpx.Client(timeout=30) as client:
                for name, call in routes.items():
                    for n in range(50):  # warm-up
                        call(client, n, {"Authorization": f"Bearer {tokens[n % len(tokens)]}"})
                    before, started = cpu_seconds(api.pid), time.perf_counter()
                    for n in range(args.requests):
                        response = call(client, n, {"Authorization": f"Bearer {tokens[n % len(tokens)]}"})
                        response.raise_for_status()
                    cpu, wall = cpu_seconds(api.pid) - before, time.perf_counter() - started
                    print(
                        f"{name:24s} {cpu / args.requests * 1000:6.2f} ms CPU/request, "
                        f"{wall / args.requests * 1000:6.2f} ms wall/request; "
                        f"loadavg {Path('/proc/loadavg').read_text().split()[0]}",
                        flush=True,
                    )
        finally:
            api.terminate()
            try:
                api.wait(timeout=30)
            except subprocess.TimeoutExpired:
                api.kill()


if __name__ == "__main__":
    main()

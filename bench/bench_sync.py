"""One tenant's full sync through the Dagster job, and Dagster's own per-run overhead.

    uv run python bench/bench_sync.py [--skus 10000] [--warehouses 40]

The sandbox runs in a separate process (so peak memory is the sync's) with limits 1000× faster:
at real speed WB's order feed (1 page a minute) dominates a sync of this size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from cryptography.fernet import Fernet
from dagster import DagsterInstance, Definitions, asset, define_asset_job

SCALE = 1000.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def step_seconds(instance: DagsterInstance, run_id: str) -> list[tuple[str, float]]:
    """Each step's wall time in the run, from Dagster's STEP_SUCCESS events."""
    from dagster import DagsterEventType

    found = []
    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_SUCCESS).records:
        event = record.event_log_entry.dagster_event
        if event is not None:
            found.append((event.step_key or "?", event.event_specific_data.duration_ms / 1000))
    return found


def sync_once(skus: int, warehouses: int, workdir: Path, profile: str | None = None) -> None:
    from assets.runs import run_sync
    from definitions import build_definitions
    from settings import Settings
    from warehouse.app_db import migrate, session_factory
    from warehouse.mart import Mart
    from warehouse.tenants import active_tenants, create_tenant, store_credentials
    from warehouse.vault import CredentialVault

    # Generated in a child process: the scenario of a 10 000 × 40 seller is hundreds of MB of
    # dicts, which would set this process's peak RSS before the sync begins.
    path = workdir / "scenario.json"
    made = subprocess.run(
        [sys.executable, "-c", "import sys, orjson; from sandbox.generate import generate_scenario; "
         f"s = generate_scenario(sellers=1, skus={skus}, warehouses={warehouses}, seed=3); "
         "open(sys.argv[1], 'wb').write(orjson.dumps(s)); "
         "sys.stdout.buffer.write(orjson.dumps(s['sellers'][0]['credentials']))", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    credentials = orjson.loads(made.stdout)
    cli = str(Path(sys.executable).with_name("stock-tracker"))
    server = subprocess.Popen(
        [cli, "sandbox", "serve", "--scenario", str(path), "--port", "0", "--time-scale", str(SCALE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        urls = json.loads(server.stdout.readline())
        key = Fernet.generate_key().decode()
        os.environ["STOCK_TRACKER_ENCRYPTION_KEYS"] = key
        settings = Settings(home=workdir, encryption_keys=key, marketplace_time_scale=SCALE).sandbox_urls(
            urls
        )
        migrate(settings.app_database_url)
        with session_factory(settings.app_database_url)() as session:
            create_tenant(session, "bench", "Bench")
            store_credentials(session, CredentialVault([key]), "bench", "wildberries", credentials)
            tenant = active_tenants(session)[0]
        before = peak_mb()
        started, cpu_started = time.perf_counter(), cpu_seconds()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        with DagsterInstance.ephemeral() as instance:
            outcome = run_sync(build_definitions(settings), instance, tenant, "bench")
            steps = step_seconds(instance, outcome.run_id)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        assert outcome.success, outcome.error
        mart = Mart(settings.warehouse_url.replace("{tenant}", "bench"), "bench")
        counts = mart.snapshot_counts()
        mart.close()
        print(
            f"full sync, {skus} SKUs × {warehouses} warehouses (sandbox ×{SCALE:g}): {elapsed:.1f} s wall, "
            f"peak RSS {peak_mb():.0f} MB (before the run {before:.0f} MB); "
            f"{counts.snapshot_rows} snapshot rows, {counts.units} units, {counts.orders} order lines"
        )
        # Wall time on a shared machine measures the neighbours too; CPU seconds are the sync's.
        print(
            f"CPU {cpu:.1f} s of the sync's process (load {os.getloadavg()[0]:.1f}); steps: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps)
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


def dagster_overhead(runs: int = 10) -> None:
    @asset
    def trivial() -> int:
        return 1

    job = Definitions(assets=[trivial], jobs=[define_asset_job("trivial_job")]).resolve_job_def("trivial_job")
    with DagsterInstance.ephemeral() as instance:
        job.execute_in_process(instance=instance)  # warm-up: imports, storage
        started = time.perf_counter()
        for _ in range(runs):
            job.execute_in_process(instance=instance)
        per_run = (time.perf_counter() - started) / runs
    started = time.perf_counter()
    for _ in range(runs):
        trivial.op.compute_fn.decorated_fn()  # type: ignore[attr-defined]
    direct = (time.perf_counter() - started) / runs
    print(
        f"Dagster per-run overhead (trivial asset, in-process, {runs} runs): {per_run * 1000:.0f} ms per run "
        f"vs {direct * 1e6:.1f} µs calling the function directly"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--warehouses", type=int, default=40)
    parser.add_argument("--profile", help="write a cProfile of the sync (pstats file) here")
    parser.add_argument(
        "--no-overhead", action="store_true", help="skip the trivial-asset runs, so the sync is the first run"
    )
    args = parser.parse_args()
    if not args.no_overhead:
        dagster_overhead()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as workdir:
        sync_once(args.skus, args.warehouses, Path(workdir), args.profile)


if __name__ == "__main__":
    main()

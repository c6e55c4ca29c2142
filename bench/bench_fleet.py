"""Many small tenants through the real Dagster daemon: run queue, run launcher, one run per tenant.

    uv run python bench/bench_fleet.py [--tenants 40] [--enterprise 4] [--time-scale 60]
                                       [--executor in_process|multiprocess] [--code-server]
                                       [--no-bytecode] [--launcher preloaded|default]

N starter-size tenants (100 SKUs × 10 warehouses, Wildberries) and a few enterprise ones of the
same size are synced by `dagster-daemon` exactly as in production: each sync is launched through
the webserver's GraphQL API (`api/dagster_client.py`, as `POST /api/v1/sync/` does), waits in the
queue (`dagster.yaml`: `--max-runs` at once, one per tenant, enterprise first by priority), and is
started by the default run launcher in a process of its own. The enterprise runs are launched
after the starter burst, when the queue is full. The sandbox serves real limits, time-scaled
(`--time-scale`: WB's one order-feed page a minute becomes one a second at 60).

Reported: sustained syncs per hour (finished runs ÷ first start to last end), CPU seconds per sync
(every process of the daemon, webserver and code server, runs included; the sandbox excluded),
queue wait (created → started) p50/p95 for starters and for the enterprise runs.
`--executor multiprocess --serial-dequeue` is Dagster's defaults (a process per step, runs
launched one at a time), the before of the cut; `--code-server` serves the definitions from one
long-lived `dagster code-server` instead of servers the daemon and webserver each start from
`workspace.yaml`. `--launcher default` is Dagster's DefaultRunLauncher (the code server spawns each
run, which imports everything afresh), the before of `preloaded` (dagster.yaml's launcher: runs fork
from a template process with the imports done, assets/launcher.py).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402
import yaml  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_for_job(url: str, processes: list[subprocess.Popen], seconds: float = 240) -> None:
    query = "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } } }"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit("a Dagster process exited during start-up (see the logs in the scratch dir)")
        try:
            data = httpx.post(url, json={"query": query}, timeout=5).json()["data"]["repositoriesOrError"]
            if any(j["name"] == "tenant_sync" for n in data.get("nodes", []) for j in n["jobs"]):
                return
        except (httpx.HTTPError, KeyError, TypeError, json.JSONDecodeError):
            pass
        time.sleep(1)
    raise SystemExit("the code location did not load")


def bytecode_env(home: Path, *, compiled: bool) -> dict[str, str]:
    """Where the Dagster processes find compiled bytecode.

    Every run is a fresh Python process that imports the code location; compiling those sources
    took more CPU than all the rest of a starter's run. The image compiles them at build time
    (deploy/Dockerfile), so the bench does too, into a cache of its own (the checkout's may be
    read-only or switched off by PYTHONDONTWRITEBYTECODE); `--no-bytecode` points at an empty one.
    """
    if not compiled:
        return {"PYTHONPYCACHEPREFIX": str(home / "no-pycache"), "PYTHONDONTWRITEBYTECODE": "1"}
    prefix = Path(tempfile.gettempdir()) / "stock-tracker-pycache"
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(prefix)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # Incremental: only sources newer than their bytecode are compiled again.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(REPO)], env=env,
                   stdout=subprocess.DEVNULL, check=False)  # fmt: skip
    return {"PYTHONPYCACHEPREFIX": str(prefix), "PYTHONDONTWRITEBYTECODE": ""}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=40, help="starter tenants")
    parser.add_argument("--enterprise", type=int, default=4, help="enterprise tenants, launched last")
    parser.add_argument("--skus", type=int, default=100)
    parser.add_argument("--warehouses", type=int, default=10)
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--max-runs", type=int, default=4, help="max_concurrent_runs of the queue")
    parser.add_argument("--executor", choices=["in_process", "multiprocess"], default="in_process")
    parser.add_argument("--code-server", action="store_true", help="one long-lived dagster code-server")
    parser.add_argument(
        "--serial-dequeue", action="store_true", help="without dagster.yaml's run_queue threads (before)"
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="every process compiles the Python it imports, as with PYTHONDONTWRITEBYTECODE and no "
        "__pycache__ (a dev checkout; the before)",
    )
    parser.add_argument(
        "--launcher",
        choices=["preloaded", "default"],
        default="preloaded",
        help="dagster.yaml's run launcher, or Dagster's default one (runs spawned by the code server)",
    )
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    from api.dagster_client import DagsterClient
    from sandbox.generate import generate_scenario
    from warehouse.app_db import migrate, session_factory
    from warehouse.tenants import create_tenant, store_credentials
    from warehouse.vault import CredentialVault

    home = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    total = args.tenants + args.enterprise
    scenario = generate_scenario(sellers=total, skus=args.skus, warehouses=args.warehouses, seed=5)
    scenario_path = home / "scenario.json"
    scenario_path.write_bytes(orjson.dumps(scenario))
    sandbox = subprocess.Popen(
        [str(BIN / "stock-tracker"), "sandbox", "serve", "--scenario", str(scenario_path), "--port", "0",
         "--time-scale", str(args.time_scale)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    processes: list[subprocess.Popen] = []
    try:
        assert sandbox.stdout is not None
        urls = json.loads(sandbox.stdout.readline())
        key = Fernet.generate_key().decode()
        app_db = f"sqlite:///{home / 'app.db'}"
        migrate(app_db)
        sellers = [s for s in scenario["sellers"] if "token" in s.get("credentials", {})][:total]
        tenants: list[tuple[str, str]] = []
        with session_factory(app_db)() as session:
            for i, seller in enumerate(sellers):
                tier = "starter" if i < args.tenants else "enterprise"
                tenant = f"fleet-{i:04d}"
                create_tenant(session, tenant, tenant, tier=tier)
                store_credentials(
                    session, CredentialVault([key]), tenant, "wildberries", seller["credentials"]
                )
                tenants.append((tenant, tier))
        dagster_home = home / "dagster"
        dagster_home.mkdir()
        config = yaml.safe_load((REPO / "dagster.yaml").read_text())
        config["concurrency"]["runs"]["max_concurrent_runs"] = args.max_runs
        if args.serial_dequeue:
            config.pop("run_queue", None)
        if args.launcher == "default":
            config.pop("run_launcher", None)
        (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
        # The SQLite storages are created here, once: the webserver and the daemon starting together
        # both created them, and one died on "table alembic_version already exists".
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            instance.get_runs(limit=1)
        env = {
            **os.environ,
            **bytecode_env(home, compiled=not args.no_bytecode),
            "DAGSTER_HOME": str(dagster_home),
            "STOCK_TRACKER_HOME": str(home),
            "STOCK_TRACKER_APP_DATABASE_URL": app_db,
            "STOCK_TRACKER_WAREHOUSE_URL": f"duckdb:///{home}/warehouse/{{tenant}}.duckdb",
            "STOCK_TRACKER_ENCRYPTION_KEYS": key,
            "STOCK_TRACKER_MARKETPLACE_TIME_SCALE": str(args.time_scale),
            "STOCK_TRACKER_SYNC_EXECUTOR": args.executor,
            **{f"STOCK_TRACKER_{name.upper()}_URL": url for name, url in urls.items()},
        }
        workspace = REPO / "workspace.yaml"
        if args.code_server:
            grpc_port = free_port()
            processes.append(
                start([str(BIN / "dagster"), "code-server", "start", "-f", "definitions.py",
                       "-h", "127.0.0.1", "-p", str(grpc_port)], env, home / "code-server.log")
            )  # fmt: skip
            workspace = home / "workspace.yaml"
            workspace.write_text(
                yaml.safe_dump(
                    {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": grpc_port,
                                                    "location_name": "stock_tracker"}}]}
                )
            )  # fmt: skip
        port = free_port()
        processes.append(
            start([str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
                  env, home / "webserver.log")
        )  # fmt: skip
        processes.append(
            start([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, home / "daemon.log")
        )
        graphql = f"http://127.0.0.1:{port}/graphql"
        wait_for_job(graphql, processes)
        client = DagsterClient(graphql, timeout=60)
        print(
            f"{args.tenants} starter + {args.enterprise} enterprise tenants, {args.skus} SKUs × "
            f"{args.warehouses} warehouses each; sandbox ×{args.time_scale:g}; "
            f"queue of {args.max_runs} runs; executor {args.executor}; "
            f"{'one code server' if args.code_server else 'workspace.yaml servers'}; "
            f"{'serial' if args.serial_dequeue else 'threaded'} dequeue; {args.launcher} launcher; "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        cpu_before = {p.pid: _cpu_split(p.pid) for p in processes}
        launched_at = time.time()
        run_tier: dict[str, str] = {}
        for tenant, tier in tenants:  # the starters first, then enterprise into a full queue
            run_tier[client.launch_sync(tenant, tier, ["wildberries"], trigger="schedule")] = tier
        client.close()
        instance = DagsterInstance.from_config(str(dagster_home))
        done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
        deadline = time.monotonic() + args.timeout
        while True:
            records = instance.get_run_records(RunsFilter(run_ids=list(run_tier)))
            if all(r.dagster_run.status in done for r in records) or time.monotonic() > deadline:
                break
            time.sleep(1)
        cpu_after = {p.pid: _cpu_split(p.pid) for p in processes}
        # The tier schedules run too (an enterprise tick every 10 minutes): their runs are syncs
        # like the bench's own, and their CPU is in the figures above, so they count.
        records = instance.get_run_records()
        names = {p.pid: Path(p.args[0]).name + (" " + p.args[1] if p.args[1] == "code-server" else "")
                 for p in processes}  # fmt: skip
        split = {
            (names[pid], part): cpu_after[pid][i] - cpu_before[pid][i]
            for pid in cpu_after
            for i, part in enumerate(("itself", "its child processes"))
        }
        cpu = sum(split.values())
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        sandbox.terminate()
        sandbox.wait(timeout=10)

    finished = [r for r in records if r.dagster_run.status in done]
    ok = [r for r in finished if r.dagster_run.status == DagsterRunStatus.SUCCESS]
    started = [r.start_time for r in finished if r.start_time]
    ended = [r.end_time for r in finished if r.end_time]
    span = max(ended) - min(started) if started and ended else float("nan")
    waits = {
        tier: [r.start_time - r.create_timestamp.timestamp() for r in finished
               if r.start_time and r.dagster_run.tags.get("tier") == tier]
        for tier in ("starter", "enterprise")
    }  # fmt: skip
    durations = [r.end_time - r.start_time for r in finished if r.start_time and r.end_time]
    print(
        f"runs: {len(ok)} succeeded, {len(finished) - len(ok)} failed, "
        f"{len(records) - len(finished)} unfinished; {len(records) - len(run_tier)} of all from the "
        f"tier schedules; "
        f"launched in {min(started or [launched_at]) - launched_at:.1f} s to first start"
    )
    print(f"sustained: {len(ok) / span * 3600:.0f} syncs/hour ({len(ok)} in {span:.0f} s)")
    print(f"CPU per sync: {cpu / max(1, len(finished)):.1f} s (daemon, webserver, code servers and runs)")
    for (name, part), seconds in split.items():
        if seconds >= 0.05:  # where it goes: the runs are the code server's child processes
            print(f"  {name}, {part}: {seconds / max(1, len(finished)):.2f} s per sync")
    print(f"run wall: p50 {statistics.median(durations):.1f} s, p95 {percentile(durations, 0.95):.1f} s")
    for tier, values in waits.items():
        if values:
            print(
                f"queue wait, {tier}: p50 {statistics.median(values):.1f} s, "
                f"p95 {percentile(values, 0.95):.1f} s, "
                f"max {max(values):.1f} s ({len(values)} runs)"
            )
    print(f"machine load at the end: {os.getloadavg()[0]:.1f}; scratch dir {home}")


def _cpu_split(pid: int) -> tuple[float, float]:
    """CPU seconds of a process itself and of all its descendants, reaped (children_*) or running."""
    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        descendants = times.children_user + times.children_system
        for child in root.children(recursive=True):
            try:
                t = child.cpu_times()
                descendants += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
        return times.user + times.system, descendants
    except psutil.NoSuchProcess:
        return 0.0, 0.0


if __name__ == "__main__":
    main()

"""The run launcher of dagster.yaml (assets/launcher.py) under the real Dagster processes: a code
server, the webserver and the daemon (queue, run monitoring), as `make demo` and docker-compose run
them. A queued sync is started by the daemon in a worker forked from the preloaded template and
materializes; Terminate in the UI (the webserver's launcher) ends a run CANCELED, and so does a
cancel the worker's host never hears of; a worker killed with -9 is found by the health check and
its run failed at the next monitoring pass (not after max_runtime_seconds); the template process
lives in the daemon only and ends with it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil
import pytest
import yaml
from cryptography.fernet import Fernet
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus

from api.dagster_client import DagsterClient
from assets.launcher import WORKER_TAG
from sandbox.generate import generate_scenario
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer
from tests.ops.test_sentry import Sink
from warehouse.app_db import migrate, session_factory
from warehouse.tenants import create_tenant, store_credentials
from warehouse.vault import CredentialVault

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Dagster's processes import Dagster and the definitions first: slow on a loaded 2-core machine.
START_SECONDS = 240
RUN_SECONDS = 180
# A dead worker is found within a few polls (1 s each here).
REACT_SECONDS = 30
# Dagster treats an interrupt inside a step with a retry policy as a retryable failure (the sync
# job's: 30 s); the retried step is interrupted at once, so a cancel ends within that delay.
CANCEL_SECONDS = 30 + 60
TERMINATE = "mutation($runId: String!) { terminateRun(runId: $runId) { __typename } }"


@dataclass
class Fleet:
    instance: DagsterInstance
    client: DagsterClient
    graphql: str
    control_url: str
    tenants: list[str]
    processes: dict[str, subprocess.Popen[bytes]]
    home: Path
    sentry: Sink

    def sync(self, tenant: str) -> str:
        return self.client.launch_sync(tenant, "starter", ["wildberries"], trigger="api")

    def hold_wildberries(self, seconds: float) -> None:
        """The next Wildberries call answers after `seconds`: the run is in its ingest meanwhile."""
        rule = {"service": "wb_content", "endpoint": "*", "kind": "delay", "count": 1, "delay": seconds}
        httpx.post(self.control_url + "/faults", json=rule, timeout=5).raise_for_status()

    def run(self, run_id: str) -> DagsterRun:
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        return run

    def wait(self, what: str, condition: Callable[[], bool], seconds: float = RUN_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    pytest.fail(f"the {name} exited while waiting for {what}:\n{self.log(name)}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {seconds:.0f} s:\n{self.log('daemon')}")
            time.sleep(0.2)

    def wait_in_ingest(self, run_id: str) -> int:
        """Wait until the run's ingest step runs; the pid of its worker."""
        self.wait(
            "ingest step start",
            lambda: any(
                e.step_key == "wildberries_ingest"
                for e in self.instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
            ),
        )
        # The event every run worker writes (`dagster api execute_run` and the code server's alike).
        events = self.instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
        text = " ".join(e.message or "" for e in events)
        pids = re.findall(r"Started process for run \(pid: (\d+)\)", text)
        assert len(pids) == 1, pids
        return int(pids[0])

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")[-4000:]


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    home = tmp_path_factory.mktemp("launcher")
    raw = generate_scenario(sellers=4, skus=20, warehouses=4, days=10, seed=12)
    sellers = [s for s in raw["sellers"] if s["marketplace"] == "wildberries"]
    key = Fernet.generate_key().decode()
    app_db = f"sqlite:///{home / 'app.db'}"
    migrate(app_db)
    with session_factory(app_db)() as session:
        for seller in sellers:
            create_tenant(session, seller["name"], seller["name"])
            store_credentials(
                session, CredentialVault([key]), seller["name"], "wildberries", seller["credentials"]
            )
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert config["run_launcher"] == {"module": "assets.launcher", "class": "PreloadedRunLauncher"}
    # The product polls every 30 s and cancels within 10 s; here within a second each.
    config["run_monitoring"]["poll_interval_seconds"] = 1
    config["run_monitoring"]["cancellation_thread_poll_interval_seconds"] = 1
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    sentry = Sink()
    threading.Thread(target=sentry.serve_forever, daemon=True).start()
    with SandboxServer(parse_scenario(orjson.dumps(raw)), time_scale=60.0) as server:
        env = {
            "STOCK_TRACKER_SENTRY_DSN": sentry.dsn,
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "STOCK_TRACKER_HOME": str(home),
            "STOCK_TRACKER_APP_DATABASE_URL": app_db,
            "STOCK_TRACKER_WAREHOUSE_URL": f"duckdb:///{home}/warehouse/{{tenant}}.duckdb",
            "STOCK_TRACKER_ENCRYPTION_KEYS": key,
            "STOCK_TRACKER_MARKETPLACE_TIME_SCALE": "60",
            **{f"STOCK_TRACKER_{name.upper()}_URL": url for name, url in server.urls.items()},
        }
        grpc_port, port = _free_port(), _free_port()
        workspace = home / "workspace.yaml"
        workspace.write_text(
            yaml.safe_dump(
                {
                    "load_from": [
                        {"grpc_server": {"host": "127.0.0.1", "port": grpc_port, "location_name": "st"}}
                    ]
                }
            )
        )
        code = [str(BIN / "dagster"), "code-server", "start", "-f", "definitions.py", "-p", str(grpc_port)]
        processes["code-server"] = _start(code, env, home / "code-server.log")
        webserver = [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)]
        processes["webserver"] = _start(webserver, env, home / "webserver.log")
        processes["daemon"] = _start(
            [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, home / "daemon.log"
        )
        graphql = f"http://127.0.0.1:{port}/graphql"
        client = DagsterClient(graphql, timeout=60)
        try:
            with DagsterInstance.from_config(str(dagster_home)) as instance:
                fleet = Fleet(instance, client, graphql, server.control_url, [s["name"] for s in sellers],
                              processes, home, sentry)  # fmt: skip
                fleet.wait("code location", lambda: _loaded(client), START_SECONDS)
                yield fleet
        finally:
            sentry.shutdown()
            client.close()
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _loaded(client: DagsterClient) -> bool:
    try:
        client.version()
        client._sync_repository("tenant_sync")
        return True
    except Exception:
        return False


def _forkservers(pid: int) -> list[psutil.Process]:
    """The launcher's template processes under `pid` (multiprocessing's forkserver and the resource
    tracker it starts)."""
    names = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")
    children = psutil.Process(pid).children(recursive=True)
    return [p for p in children if any(n in " ".join(p.cmdline()) for n in names)]


def test_a_queued_sync_runs_in_a_worker_forked_from_the_template(fleet: Fleet) -> None:
    run_id = fleet.sync(fleet.tenants[0])
    fleet.wait("the run to end", lambda: fleet.run(run_id).is_finished)
    run = fleet.run(run_id)
    assert run.status == DagsterRunStatus.SUCCESS, fleet.log("daemon")
    materialized = {
        e.asset_materialization.asset_key.to_user_string()
        for e in fleet.instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        if e.asset_materialization
    }
    assert {"stock_snapshot", "stock_metrics"} <= materialized, materialized
    # Started by the launcher, in a fork of the daemon's template (not spawned by the code server).
    messages = [e.message for e in fleet.instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)]
    worker = json.loads(run.tags[WORKER_TAG])
    assert worker["host"] == socket.gethostname()
    assert any(f"forked from the preloaded template (pid {worker['pid']})" in m for m in messages), messages
    assert any(f"Started process for run (pid: {worker['pid']})" in m for m in messages)
    assert _forkservers(fleet.processes["daemon"].pid), "the daemon keeps its template for the next run"
    assert not _forkservers(fleet.processes["code-server"].pid)


def test_terminate_in_the_ui_ends_the_run_canceled(fleet: Fleet) -> None:
    fleet.hold_wildberries(60)
    run_id = fleet.sync(fleet.tenants[1])
    pid = fleet.wait_in_ingest(run_id)
    # The UI's Terminate: the webserver's instance builds the launcher and asks it.
    answer = httpx.post(fleet.graphql, json={"query": TERMINATE, "variables": {"runId": run_id}}, timeout=60)
    assert answer.json()["data"]["terminateRun"]["__typename"] == "TerminateRunSuccess", answer.text
    fleet.wait("CANCELED", lambda: fleet.run(run_id).status == DagsterRunStatus.CANCELED, CANCEL_SECONDS)
    fleet.wait("the worker to exit", lambda: not psutil.pid_exists(pid), REACT_SECONDS)
    # The webserver only terminated: it never started a template of its own.
    assert not _forkservers(fleet.processes["webserver"].pid)


def test_a_cancel_the_workers_host_never_hears_of_still_ends_the_run(fleet: Fleet) -> None:
    """Terminate from another container (docker-compose's webserver) cannot signal the worker: the
    run is marked CANCELING, and the worker's own cancellation thread stops it."""
    fleet.hold_wildberries(60)
    run_id = fleet.sync(fleet.tenants[2])
    pid = fleet.wait_in_ingest(run_id)
    fleet.instance.report_run_canceling(fleet.run(run_id))  # what terminate records, and no signal
    fleet.wait("CANCELED", lambda: fleet.run(run_id).status == DagsterRunStatus.CANCELED, CANCEL_SECONDS)
    fleet.wait("the worker to exit", lambda: not psutil.pid_exists(pid), REACT_SECONDS)


def test_a_killed_worker_fails_its_run_at_the_next_health_check(fleet: Fleet) -> None:
    fleet.hold_wildberries(60)
    run_id = fleet.sync(fleet.tenants[0])
    pid = fleet.wait_in_ingest(run_id)
    os.kill(pid, signal.SIGKILL)
    # max_runtime_seconds is hours: only the launcher's health check fails the run this soon.
    fleet.wait("FAILURE", lambda: fleet.run(run_id).status == DagsterRunStatus.FAILURE, REACT_SECONDS)
    failure = fleet.instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    assert f"The run worker (pid {pid} on {socket.gethostname()}) is gone" in (failure[-1].message or "")


def test_a_failed_run_still_reaches_sentry_from_the_sync_run_failed_sensor(fleet: Fleet) -> None:
    """The forked worker's failure is Dagster's own: the daemon's `sync_run_failed` sensor (in the
    code server) reports it to Sentry with the tenant and the failed step."""
    tenant = fleet.tenants[1]
    # WB refuses the key: the ingest step fails for good at once (no retries).
    rule = {"service": "wb_content", "endpoint": "*", "kind": "401", "fraction": 1.0}
    httpx.post(fleet.control_url + "/faults", json=rule, timeout=5).raise_for_status()
    try:
        run_id = fleet.sync(tenant)
        fleet.wait("the run to fail", lambda: fleet.run(run_id).is_finished, RUN_SECONDS)
    finally:
        httpx.delete(fleet.control_url + "/faults", timeout=5).raise_for_status()
    assert fleet.run(run_id).status == DagsterRunStatus.FAILURE

    def reported() -> bool:
        return any(
            e.get("tags", {}).get("tenant_id") == tenant and e["tags"].get("step") == "wildberries_ingest"
            for e in fleet.sentry.events()
        )

    fleet.wait("the sensor's Sentry report", reported, RUN_SECONDS)


def test_the_template_ends_with_the_daemon(fleet: Fleet) -> None:
    daemon = fleet.processes["daemon"]
    templates = _forkservers(daemon.pid)
    assert templates
    daemon.send_signal(signal.SIGTERM)  # as `docker compose stop` and `stock-tracker dev` end it
    daemon.wait(timeout=60)
    _, alive = psutil.wait_procs(templates, timeout=REACT_SECONDS)
    assert not alive, f"the template outlived the daemon: {alive}"

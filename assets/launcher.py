"""A Dagster run launcher whose run workers fork from a template process with the imports done.

Dagster's default launcher asks the code server (gRPC StartRun) to start each run, and the code server
starts it with multiprocessing `spawn`: every run imported Dagster, dlt, Polars, PyArrow, SQLAlchemy
and the code location afresh, about half of a starter sync's CPU (docs/orchestration.md). Here the
launching process (the daemon) keeps one `forkserver` template that imported all of that once and
froze it for the collector (`assets/run_template.py`); each run's worker is a fork of it and runs the
job exactly as `dagster api execute_run` does (the K8s launcher's pods run that command), so events,
run status, failure handling, hooks and compute logs are Dagster's own.

Configured under `run_launcher:` in dagster.yaml (the embedded instance, docker-compose); the Helm
deploy keeps its K8s launcher. The webserver builds this class too (Terminate comes from the UI)
but never starts the template: only `launch_run` does.
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.process
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Self

from dagster import _check as check
from dagster._core.instance import InstanceRef
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClass, ConfigurableClassData, deserialize_value, serialize_value

# Where a run's worker is: written by the worker itself before the run starts, so a run that is
# STARTED always has them (the health check and Terminate read them; the UI shows them).
WORKER_TAG = "stock_tracker/run_worker"

# What the template imports once (module names; the last one freezes them). The code location is
# `definitions` (workspace.yaml, the code server's `-f definitions.py`): Dagster reuses a module
# already imported from the same file instead of executing it again.
DEFAULT_PRELOAD = (
    "dagster",
    "dagster._cli.api",
    "dagster._core.execution.api",
    "dagster._grpc.impl",
    "dagster_dlt",
    "dlt",
    "polars",
    "pyarrow",
    "sqlalchemy",
    "duckdb",
    "psycopg",
    "definitions",
)
TEMPLATE_MODULE = "assets.run_template"


class PreloadedRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a process forked from a pre-imported template on this host."""

    def __init__(
        self, inst_data: ConfigurableClassData | None = None, preload_modules: Sequence[str] = DEFAULT_PRELOAD
    ) -> None:
        self._inst_data = inst_data
        self._preload = [*preload_modules, TEMPLATE_MODULE]
        self._lock = threading.Lock()
        # The code server's id when the template was started: a reloaded or redeployed code
        # location gets a fresh template, never runs of the old code.
        self._template_for: str | None = None
        self._retired: list[int] = []
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        from dagster import Array, Field

        return {
            "preload_modules": Field(
                Array(str),
                is_required=False,
                default_value=list(DEFAULT_PRELOAD),
                description="Modules the template process imports once for every run it forks.",
            )
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> Self:
        return cls(inst_data=inst_data, preload_modules=config_value.get("preload_modules", DEFAULT_PRELOAD))

    # --- launch --------------------------------------------------------------------------------

    def launch_run(self, context: LaunchRunContext) -> None:
        run = check.inst(context.dagster_run, DagsterRun)
        origin = check.not_none(run.job_code_origin, f"Run {run.run_id} has no code origin to execute.")
        args = ExecuteRunArgs(job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref())
        mp = self._forkserver(_server_id(context))
        process = mp.Process(
            target=execute_run_in_worker, args=(serialize_value(args),), name=f"dagster-run-{run.run_id}"
        )
        process.start()
        # multiprocessing joins a process's non-daemon children when it exits (and terminates its
        # daemon ones): the daemon stopping or restarting must leave running syncs alone, as the
        # code server's runs were. The forkserver reaps the worker; its exit is in the run's events.
        multiprocessing.process._children.discard(process)  # type: ignore[attr-defined]
        self._instance.report_engine_event(
            f"Run worker forked from the preloaded template (pid {process.pid}).", run, cls=self.__class__
        )

    def _forkserver(self, server_id: str | None) -> Any:
        """The forkserver context, its template (re)started for the current code location."""
        forkserver = multiprocessing.forkserver._forkserver  # type: ignore[attr-defined]
        with self._lock:
            self._retired = [pid for pid in self._retired if not _reaped(pid)]
            if self._template_for is not None and server_id is not None and server_id != self._template_for:
                self._retire(forkserver)
            if server_id is not None:
                self._template_for = server_id
            mp = multiprocessing.get_context("forkserver")
            mp.set_forkserver_preload(self._preload)
            return mp

    def _retire(self, forkserver: Any) -> None:
        """Let the old template go without waiting: it exits once its running workers do (they hold
        its "alive" pipe), and is reaped on a later launch."""
        with forkserver._lock:
            if forkserver._forkserver_pid is None:
                return
            os.close(forkserver._forkserver_alive_fd)
            self._retired.append(forkserver._forkserver_pid)
            forkserver._forkserver_alive_fd = None
            forkserver._forkserver_pid = None
            forkserver._forkserver_address = None

    # --- terminate and health ------------------------------------------------------------------

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        worker = _worker(run)
        if worker is None or worker["host"] != socket.gethostname():
            # Another host (the webserver's container): the worker's own cancellation thread sees
            # CANCELING within `cancellation_thread_poll_interval_seconds` and interrupts itself.
            return True
        pid = _live(worker)
        if pid is None:  # nothing is left to stop it: the run is over
            self._instance.report_run_canceled(run, message="The run's worker was already gone.")
            return True
        # SIGTERM is an interrupt in the worker (as in a K8s pod): Dagster ends the run CANCELED.
        os.kill(pid, signal.SIGTERM)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        worker = _worker(run)
        if worker is None:
            # Not launched by this launcher (a run from before it was configured): nothing to ask;
            # run monitoring's max_runtime_seconds still bounds it.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "No run worker recorded for this run.")
        if worker["host"] != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"The worker runs on {worker['host']}.")
        if _live(worker) is None:
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"The run worker (pid {worker['pid']} on {worker['host']}) is gone.",
                run_worker_id=str(worker["pid"]),
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(worker["pid"]))


def _server_id(context: LaunchRunContext) -> str | None:
    """The id of the code server the run's location is served from (None without one)."""
    origin = context.dagster_run.remote_job_origin
    if context.workspace is None or origin is None:
        return None
    try:
        location = context.workspace.get_code_location(origin.location_name)
    except Exception:  # no such location loaded here: keep the template as it is
        return None
    return getattr(location, "_server_id", None)


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def _worker(run: DagsterRun) -> dict[str, Any] | None:
    raw = run.tags.get(WORKER_TAG)
    return json.loads(raw) if raw else None


def _start_ticks(pid: int) -> str | None:
    """A process's start time (clock ticks since boot) from /proc, None if it is gone or a zombie.
    With the pid it names one process: a pid alone is reused."""
    if not os.path.isdir("/proc/self"):  # no procfs (macOS): the pid alone
        try:
            os.kill(pid, 0)
            return ""
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name (2nd field) may hold spaces: the fields after its ")" are fixed.
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] == "Z" else fields[19]


def _live(worker: Mapping[str, Any]) -> int | None:
    """The worker's pid if that process still runs."""
    pid = int(worker["pid"])
    return pid if _start_ticks(pid) == worker["started"] else None


# --- the worker (runs in the forked process) ------------------------------------------------------


def _interrupt_while_canceling(instance_ref: InstanceRef, run_id: str, stop: threading.Event) -> None:
    """Terminate from a process on another host (docker-compose's webserver) cannot signal this
    worker: it marks the run CANCELING, and this thread interrupts the run. Again at every poll
    while the run goes on: Dagster turns an interrupt inside a step with a retry policy (the sync
    job's) into a retry, and Dagster's own cancellation thread, interrupting once, let the retried
    step finish the run SUCCESS."""
    from dagster import DagsterInstance
    from dagster._core.storage.dagster_run import DagsterRunStatus
    from dagster._utils import send_interrupt

    ended = {DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE}
    with DagsterInstance.from_ref(instance_ref) as instance:
        while not stop.wait(instance.cancellation_thread_poll_interval_seconds):
            run = instance.get_run_by_id(run_id)
            if run is None or run.status in ended:
                send_interrupt()


def execute_run_in_worker(serialized_args: str) -> None:
    """`dagster api execute_run` in a fork of the template: the same body, plus what a K8s pod gives
    a run (SIGTERM as an interrupt), a cancellation thread and atexit on exit."""
    from dagster._cli.api import _execute_run_command_body
    from dagster._cli.utils import get_instance_for_cli
    from dagster._utils.interrupts import capture_interrupts, setup_interrupt_handlers

    setup_interrupt_handlers()
    try:
        with capture_interrupts():
            args = deserialize_value(serialized_args, ExecuteRunArgs)
            with get_instance_for_cli(instance_ref=args.instance_ref) as instance:
                pid = os.getpid()
                worker = {"host": socket.gethostname(), "pid": pid, "started": _start_ticks(pid)}
                instance.add_run_tags(args.run_id, {WORKER_TAG: json.dumps(worker)})
                stop = threading.Event()
                thread = threading.Thread(
                    target=_interrupt_while_canceling, args=(instance.get_ref(), args.run_id, stop),
                    name="interrupt-on-cancel", daemon=True,
                )  # fmt: skip
                thread.start()
                try:
                    _execute_run_command_body(
                        args.run_id, instance, lambda _event: None, set_exit_code_on_failure=False
                    )
                finally:
                    stop.set()
                    thread.join(timeout=15)
    finally:
        sys.stdout.flush()
        # multiprocessing ends a child with os._exit, which skips atexit: Sentry's queue, the
        # logging handlers and the rest flush as when `dagster api execute_run` exits.
        atexit._run_exitfuncs()

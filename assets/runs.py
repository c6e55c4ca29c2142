"""Running a tenant's sync from the CLI and the demo: in this process, recorded in the Dagster
instance (so the runs show in the UI), one run per tenant at a time."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, Definitions, EventLogEntry, RunsFilter
from dagster._core.storage.defs_state.base import set_defs_state_storage
from sqlalchemy.exc import SQLAlchemyError

from assets.hooks import report_failed_steps
from assets.instance_config import prepare_dagster_home
from assets.jobs import SYNC_JOB, sync_selection, sync_tags
from assets.partitions import partition_key, tenant_partitions
from assets.run_records import record_run
from warehouse.tenants import TenantInfo

log = logging.getLogger("stock_tracker.sync")
# Execution quiet on the console: the caller's event listener gets (and keeps) every event.
_SILENT_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def local_instance(home: Path) -> DagsterInstance:
    """The embedded default's Dagster instance under `home/dagster`, with the repo's dagster.yaml."""
    dagster_home = prepare_dagster_home(Path(os.environ.get("DAGSTER_HOME") or (home / "dagster")))
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return DagsterInstance.get()


# Runs executed by `run_sync` carry the host they run on: on that host, holding the tenant's lock,
# such a run still "started" is one whose process died.
IN_PROCESS_TAG = "stock_tracker/in_process_on"


class SyncAlreadyRunning(RuntimeError):
    pass


@dataclass(frozen=True)
class SyncOutcome:
    run_id: str
    success: bool
    error: str | None


def run_sync(
    defs: Definitions,
    instance: DagsterInstance,
    tenant: TenantInfo,
    trigger: str,
    on_event: Callable[[EventLogEntry], None] | None = None,
) -> SyncOutcome:
    """Run the tenant's partition in this process. With `on_event`, every event of the run goes
    there (as it is stored) and Dagster's console logger stays silent."""
    # Dagster loads definitions against the "current" state storage, a context variable the last
    # instance opened with `with` set; a process that opened and closed other instances (tests,
    # the dev CLI) can be left pointing at a dead one. This run's instance is the current one.
    with _tenant_lock(instance, tenant.id), set_defs_state_storage(instance.defs_state_storage):
        return _run_sync_locked(defs, instance, tenant, trigger, on_event)


@contextmanager
def _tenant_lock(instance: DagsterInstance, tenant_id: str) -> Iterator[None]:
    """One in-process sync per tenant and instance: an exclusive lock on a file beside the
    instance's storage, held for the whole run. Checking for a running run alone lets two syncs
    started together both pass the check. The kernel drops the lock when its holder dies (even
    kill -9), so a dead sync never holds its tenant."""
    folder = Path(instance.root_directory) / "sync-locks"
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(tenant_id.encode()).hexdigest()[:32]  # any tenant id makes a file name
    with (folder / f"{name}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncAlreadyRunning(f"a sync of {tenant_id} is already running") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_sync_locked(
    defs: Definitions,
    instance: DagsterInstance,
    tenant: TenantInfo,
    trigger: str,
    on_event: Callable[[EventLogEntry], None] | None,
) -> SyncOutcome:
    if tenant.id not in instance.get_dynamic_partitions(tenant_partitions.name):
        instance.add_dynamic_partitions(tenant_partitions.name, [tenant.id])
    for record in instance.get_run_records(RunsFilter(tags={"tenant": tenant.id}, statuses=ACTIVE)):
        run = record.dagster_run
        if run.tags.get(IN_PROCESS_TAG) == socket.gethostname():
            # Started here by a sync that no longer holds the tenant's lock: its process died.
            instance.report_run_failed(run, "the process running this sync is gone (killed or crashed)")
            continue
        raise SyncAlreadyRunning(f"a sync of {tenant.id} is already running (run {run.run_id})")
    job = defs.resolve_job_def(SYNC_JOB)
    run_id = str(uuid.uuid4())  # known before the run starts, to listen to it
    if on_event is not None:
        instance.add_event_listener(run_id, on_event)
    result = job.execute_in_process(
        instance=instance,
        run_id=run_id,
        run_config=_SILENT_CONSOLE if on_event is not None else None,
        partition_key=partition_key(tenant.id, tenant.tier),
        tags={**sync_tags(tenant.id, tenant.tier, trigger), IN_PROCESS_TAG: socket.gethostname()},
        asset_selection=sync_selection(tenant.marketplaces),
        raise_on_error=False,
    )
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        error = (
            "; ".join(
                (
                    e.step_failure_data.user_failure_data.description
                    if e.step_failure_data.user_failure_data
                    else e.step_failure_data.error.message.strip()
                )
                if e.step_failure_data
                and (e.step_failure_data.user_failure_data or e.step_failure_data.error)
                else "step failed"
                for e in failures
            )
            or "the run failed"
        )
    # No daemon watches in-process runs: report and record the outcome here (the sensors do it
    # for the rest).
    if not result.success:
        report_failed_steps(instance, result.run_id)
    try:
        record_run(instance, result.run_id, _app_database_url(defs))
    except SQLAlchemyError as exc:
        # The app database went away during the sync (a restart): the run's outcome stands in
        # Dagster; the caller gets it, not a traceback. The API's history misses this one run.
        log.warning("sync %s not recorded in the app database: %s", result.run_id, type(exc).__name__)
        if error is None and not result.success:
            error = "the run failed"
    return SyncOutcome(result.run_id, result.success, error)


def _app_database_url(defs: Definitions) -> str:
    url = defs.resources["tenants"].app_database_url
    # An EnvVar (definitions.py keeps environment values as references) resolves here.
    return url.get_value() if hasattr(url, "get_value") else str(url)

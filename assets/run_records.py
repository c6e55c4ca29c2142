"""Every finished sync becomes a `sync_runs` row, whoever launched it (schedule, API, CLI, demo).

The row is the app database's record of the sync that the API, the bot and the operator's
metrics read (warehouse/platform_stats.py): outcome, tier, and the run's real start and end. Runs
launched through the daemon are recorded by the two run-status sensors below; runs executed in
process (CLI, demo) are recorded by `assets/runs.py` right after they end. Recording is an upsert
on the Dagster run id, so a run seen twice (a sensor and the API's own refresh) stays one row.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunStatusSensorContext,
    run_failure_sensor,
    run_status_sensor,
)

from assets.hooks import report_failed_steps
from assets.jobs import SYNC_JOB
from resources.tenants import TenantDirectory
from warehouse.app_db import session_factory
from warehouse.sync_runs import record_finished_run

_OUTCOME = {DagsterRunStatus.SUCCESS: "success", DagsterRunStatus.FAILURE: "failed"}


def record_run(instance: DagsterInstance, run_id: str, app_database_url: str) -> bool:
    """Write the finished run's outcome; False when it is not a tenant's sync or not finished."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return False
    run = record.dagster_run
    tags = run.tags
    outcome = _OUTCOME.get(run.status)
    if run.job_name != SYNC_JOB or outcome is None or "tenant" not in tags or "tier" not in tags:
        return False
    started = _stamp(record.start_time) or record.create_timestamp.astimezone(UTC)
    finished = _stamp(record.end_time) or datetime.now(UTC)
    with session_factory(app_database_url)() as session:
        record_finished_run(
            session,
            run_id,
            tags["tenant"],
            tags.get("trigger", "schedule"),
            tags["tier"],
            outcome,
            started,
            finished,
            error=_failure_reason(instance, run_id) if outcome == "failed" else None,
        )
    return True


def _stamp(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def _failure_reason(instance: DagsterInstance, run_id: str) -> str:
    reasons = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        data = event.step_failure_data if event else None
        if data is None:
            continue
        if data.user_failure_data and data.user_failure_data.description:
            reasons.append(data.user_failure_data.description)
        elif data.error:
            # After the retries Dagster reports "Exceeded max_retries"; the seller's reason (the
            # Failure the step raised) is the first cause.
            error = data.error
            while error.cause is not None:
                error = error.cause
            reasons.append(_without_class(error.message.strip()))
    return "; ".join(dict.fromkeys(reasons)) or "the run failed"


def _without_class(message: str) -> str:
    # Serialized errors start with the exception's dotted class name.
    head, sep, rest = message.partition(": ")
    return rest if sep and "." in head and " " not in head else message


@run_status_sensor(
    name="sync_run_succeeded",
    run_status=DagsterRunStatus.SUCCESS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Records each successful tenant sync in the app database (sync_runs).",
)
def sync_run_succeeded(context: RunStatusSensorContext, tenants: TenantDirectory) -> None:
    record_run(context.instance, context.dagster_run.run_id, tenants.app_database_url)


@run_failure_sensor(
    name="sync_run_failed",
    default_status=DefaultSensorStatus.RUNNING,
    description="Reports each failed tenant sync's failed steps to Sentry and records the sync in the "
    "app database (sync_runs).",
)
def sync_run_failed(context: RunFailureSensorContext, tenants: TenantDirectory) -> None:
    # Sentry first: it never raises, and it must hear of the failure even with the app database down.
    report_failed_steps(context.instance, context.dagster_run.run_id)
    record_run(context.instance, context.dagster_run.run_id, tenants.app_database_url)

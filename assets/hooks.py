"""A sync run's failed steps, reported to Sentry once the run has ended.

Dagster catches step errors itself, so without this Sentry would never see them. The report is made
from the run's `STEP_FAILURE` events (a step failed for good, after its retries), by the run
failure sensor for runs the daemon launched (`assets/run_records.py`) and right after the run for
syncs run in process (`assets/runs.py`). A `@failure_hook` on every step did this before from the
run process, and wrote a `HOOK_SKIPPED` event for each step that succeeded (11 of a run's 121
events, bench/bench_fleet.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sentry_sdk
from dagster import DagsterEventType, DagsterInstance

from assets.jobs import SYNC_JOB
from resources.sentry import tag_tenant

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo

# One entry of `traceback.format_list`: '  File "path", line 12, in name\n    source line\n'.
_FRAME = re.compile(
    r'\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<function>[^\n]+)\n?(?P<source>.*)', re.S
)


def report_failed_steps(instance: DagsterInstance, run_id: str) -> int:
    """One Sentry event per step of the run that failed for good, tagged with tenant, tier and step;
    the number of events. Only the sync job's runs are reported (the hook was on that job)."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.job_name != SYNC_JOB:
        return 0
    reported = 0
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        if event is None:
            continue
        data = event.step_failure_data
        # An isolation scope: `sentry_sdk.set_tag` writes to the isolation scope, so under
        # `new_scope()` the step and tenant tags stayed on the process's scope and marked every
        # later event of the sensor daemon (or the CLI) with this run's step.
        with sentry_sdk.isolation_scope():
            tag_tenant(run.tags.get("tenant"), run.tags.get("tier"))
            sentry_sdk.set_tag("step", event.step_key)
            sentry_sdk.set_tag("run_id", run_id)
            if data is not None and data.error is not None:
                sentry_sdk.capture_event(
                    {"level": "error", "logger": "dagster", "exception": {"values": _exceptions(data.error)}}
                )
            else:
                sentry_sdk.capture_message(f"sync step {event.step_key} failed", level="error")
        reported += 1
    return reported


def _exceptions(error: SerializableErrorInfo) -> list[dict[str, Any]]:
    """Sentry's exception values for a serialized error and its causes: the outermost first, the
    root cause (what the step raised: the seller's reason) last, which Sentry shows as the event's."""
    values = []
    current: SerializableErrorInfo | None = error
    while current is not None:
        values.append(
            {
                "type": current.cls_name or "Error",
                "value": _without_class(current.message.strip()),
                "stacktrace": {"frames": [_frame(text) for text in current.stack]},
            }
        )
        current = current.cause or current.context
    return values


def _frame(text: str) -> dict[str, Any]:
    match = _FRAME.match(text)
    if match is None:
        return {"filename": "?", "context_line": text.strip()}
    return {
        "filename": match["path"],
        "abs_path": match["path"],
        "lineno": int(match["line"]),
        "function": match["function"].strip(),
        "context_line": match["source"].strip(),
        "in_app": "site-packages" not in match["path"],
    }


def _without_class(message: str) -> str:
    # Serialized errors start with the exception's dotted class name.
    head, sep, rest = message.partition(": ")
    return rest if sep and " " not in head and (head.endswith("Error") or "." in head) else message

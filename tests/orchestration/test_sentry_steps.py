"""A sync step that fails for good reaches Sentry once, tagged with tenant, tier and step, with the
seller's reason and without the marketplace key: from the run failure sensor (runs the daemon
launched) and right after an in-process run (CLI, demo). The real sentry-sdk sends to a local sink."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import sentry_sdk
from dagster import DagsterEventType, build_run_status_sensor_context

from assets.run_records import sync_run_failed
from definitions import DAGSTER_SENTRY_COMPONENT, DAGSTER_SENTRY_OPTIONS
from resources.sentry import init_sentry
from tests.ops.test_sentry import Sink, sink  # noqa: F401 (the fixture)
from tests.orchestration.conftest import Platform

WB_ONLY = "wb-seller-1"


@pytest.fixture
def reporting(sink: Sink, platform: Platform) -> Iterator[Sink]:  # noqa: F811
    settings = platform.settings.model_copy(update={"sentry_dsn": sink.dsn, "sentry_environment": "ops-test"})
    assert init_sentry(DAGSTER_SENTRY_COMPONENT, settings, **DAGSTER_SENTRY_OPTIONS)  # as definitions.py
    yield sink


def _step_reports(to: Sink, count: int) -> list[dict]:
    """The step failure reports (Sentry's logging integration also sends Dagster's error log lines)."""
    sentry_sdk.flush(timeout=10)
    deadline = time.monotonic() + 10
    while len(reports := [e for e in to.events() if "step" in e.get("tags", {})]) < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return reports


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_a_failed_step_reaches_sentry_once_from_the_run_and_from_the_sensor(
    platform: Platform, reporting: Sink
) -> None:
    tenant = next(iter(platform.tenants()))
    seller = next(s for s in platform.sellers(tenant) if s["marketplace"] == "wildberries")
    token = seller["credentials"]["token"]
    platform.fault(service="wb_content", endpoint="*", kind="503", fraction=1.0)

    failed = platform.sync(tenant)  # in process: reported right after the run
    assert not failed.success
    events = _step_reports(reporting, 1)
    failures = platform.instance.all_logs(failed.run_id, of_type=DagsterEventType.STEP_FAILURE)
    assert len(failures) == len(events) == 1  # one failed step (the model steps never ran)
    event = events[0]
    assert event["tags"]["tenant_id"] == tenant
    assert event["tags"]["tier"] == "starter"
    assert event["tags"]["step"] == failures[0].step_key == "wildberries_ingest"
    assert event["tags"]["component"] == "dagster"
    assert event["environment"] == "ops-test"
    assert event["level"] == "error"
    reason = event["exception"]["values"][-1]
    assert "503" in reason["value"], reason
    assert reason["stacktrace"]["frames"], "the step's stack is in the report"
    assert token not in json.dumps(event)
    # No step of a run writes a hook event any more (the report is not a per-step hook).
    assert not platform.instance.all_logs(failed.run_id, of_type=DagsterEventType.HOOK_SKIPPED)
    assert not platform.instance.all_logs(failed.run_id, of_type=DagsterEventType.HOOK_COMPLETED)

    # The daemon's run failure sensor reports the same run (a run it launched).
    run = platform.instance.get_run_by_id(failed.run_id)
    assert run is not None
    failure = platform.instance.all_logs(failed.run_id, of_type=DagsterEventType.RUN_FAILURE)[0]
    context = build_run_status_sensor_context(
        sensor_name="sync_run_failed",
        dagster_event=failure.dagster_event,
        dagster_instance=platform.instance,
        dagster_run=run,
        resources={"tenants": platform.defs.resources["tenants"]},
    ).for_run_failure()
    sync_run_failed(context)
    events = _step_reports(reporting, 2)
    assert len(events) == 2
    assert events[1]["tags"]["step"] == "wildberries_ingest"
    assert events[1]["tags"]["tenant_id"] == tenant
    assert events[1]["exception"]["values"][-1]["value"] == reason["value"]

    # The step's tags stay on its report: what this process reports next is not marked with them.
    sentry_sdk.capture_message("after the reports", level="error")
    sentry_sdk.flush(timeout=10)
    texts = [(e, e.get("message") or e.get("logentry", {}).get("message")) for e in reporting.events()]
    later = [e for e, text in texts if text == "after the reports"]
    assert len(later) == 1
    assert "step" not in later[0].get("tags", {}) and "run_id" not in later[0].get("tags", {})

"""Two syncs of one tenant launched at the same moment (the CLI twice, the demo and the CLI): one
runs, the other is refused with "already running", and the history grows by exactly one. Runs
queued in Dagster (schedule ticks, the API) start one per tenant at a time."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    build_schedule_context,
)
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from assets.jobs import SYNC_JOB, sync_tags
from assets.partitions import tenant_partitions
from assets.runs import SyncAlreadyRunning, SyncOutcome
from tests.orchestration.conftest import Platform, expected_units, snapshot_units

REPO = Path(__file__).resolve().parents[2]
WB_ONLY, BOTH = "seller-1-severnyi-len", "seller-2-urban-fox"


def test_two_syncs_of_one_tenant_at_once_one_runs(platform: Platform) -> None:
    # The first call holds the tenant for a second at WB, so the two surely overlap.
    platform.fault(service="wb_content", endpoint="*", kind="delay", count=1, delay=1.0)
    start = threading.Barrier(2)
    outcomes: list[SyncOutcome | BaseException] = []

    def launch() -> None:
        start.wait()
        try:
            outcomes.append(platform.sync(WB_ONLY))
        except BaseException as exc:  # collected for the assertions below
            outcomes.append(exc)

    threads = [threading.Thread(target=launch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    ran = [o for o in outcomes if isinstance(o, SyncOutcome)]
    refused = [o for o in outcomes if isinstance(o, SyncAlreadyRunning)]
    assert len(ran) == 1 and len(refused) == 1, outcomes
    assert ran[0].success, ran[0].error
    assert "already running" in str(refused[0])
    assert len(platform.instance.get_run_records()) == 1  # the refused one never made a run
    mart = platform.mart(WB_ONLY)
    try:
        assert len(mart.snapshots()) == 1
        assert snapshot_units(mart) == expected_units(platform.sellers(WB_ONLY))
    finally:
        mart.close()
    # And once it is over, the tenant syncs again.
    assert platform.sync(WB_ONLY).success


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_a_sync_refused_while_one_runs_names_it(platform: Platform) -> None:
    """The refusal a second CLI sync prints says which tenant is busy."""
    platform.fault(service="wb_content", endpoint="*", kind="delay", count=1, delay=2.0)
    first = threading.Thread(target=lambda: platform.sync(WB_ONLY))
    first.start()
    try:
        deadline = threading.Event()
        for _ in range(200):
            if platform.instance.get_run_records():
                break
            deadline.wait(0.05)
        with pytest.raises(SyncAlreadyRunning, match=WB_ONLY):
            platform.sync(WB_ONLY)
    finally:
        first.join(timeout=240)


def _ticks(platform: Platform, instance: DagsterInstance, *hours: int) -> list[RunRequest]:
    """The starter schedule's run requests at the given ticks (two ticks: two requests per tenant)."""
    schedule = platform.defs.resolve_schedule_def("starter_sync")
    requests: list[RunRequest] = []
    for hour in hours:
        context = build_schedule_context(
            instance=instance,
            resources={"tenants": platform.defs.resources["tenants"]},
            scheduled_execution_time=datetime(2026, 11, 26, hour, 0, tzinfo=UTC),
            repository_def=platform.defs.get_repository_def(),
        )
        requests += list(schedule.evaluate_tick(context).run_requests or [])
    return requests


def _record(instance: DagsterInstance, status: DagsterRunStatus, tags: Mapping[str, str]) -> DagsterRun:
    """A run of the sync job in `status` with `tags`, as a launch through the code location records it."""
    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("definitions.py"), "__repository__"), SYNC_JOB
    )
    return create_run_for_test(
        instance, job_name=SYNC_JOB, status=status, tags=dict(tags), remote_job_origin=origin
    )


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_two_schedule_ticks_and_a_manual_sync_of_one_tenant_start_one_run(
    platform: Platform, tmp_path: Path
) -> None:
    """The schedules' runs and the API's are queued in the Dagster instance, and its queue (the
    repo's dagster.yaml) starts at most one run per tenant: two ticks landing at once (the daemon
    catching up) and a manual sync queue three runs of one tenant, and one of them starts; the
    others wait while it runs. Another tenant's run starts alongside."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    (tmp_path / "queued").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "queued"), overrides=config) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        instance.add_dynamic_partitions(tenant_partitions.name, [WB_ONLY, BOTH])
        requests = _ticks(platform, instance, 10, 12)
        mine = [r for r in requests if r.tags["tenant"] == WB_ONLY]
        assert len(mine) == 2 and mine[0].run_key != mine[1].run_key  # two ticks, two requests
        other = next(r for r in requests if r.tags["tenant"] == BOTH)
        manual = sync_tags(WB_ONLY, "starter", "api")  # what POST /api/v1/sync/ launches with
        for tags in [*(r.tags for r in mine), manual, other.tags]:
            _record(instance, DagsterRunStatus.QUEUED, tags)
        # The queue daemon's own choice of runs to start, with the instance's limits.
        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        starting = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
        assert sorted(run.tags["tenant"] for run in starting) == sorted([WB_ONLY, BOTH])  # one each
        # The tenant's run is launched and in progress; its two others stay queued, pass after pass.
        first = next(run for run in starting if run.tags["tenant"] == WB_ONLY)
        instance.delete_run(first.run_id)
        _record(instance, DagsterRunStatus.STARTED, first.tags)
        for _ in range(2):
            again = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
            assert WB_ONLY not in {run.tags["tenant"] for run in again}
        waiting = instance.get_runs(RunsFilter(tags={"tenant": WB_ONLY}, statuses=[DagsterRunStatus.QUEUED]))
        assert len(waiting) == 2

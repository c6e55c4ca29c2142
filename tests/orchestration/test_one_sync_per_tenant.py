"""Two syncs of one tenant launched at the same moment (the CLI twice, the demo and the CLI): one
runs, the other is refused with "already running", and the history grows by exactly one."""

from __future__ import annotations

import threading

import pytest

from assets.runs import SyncAlreadyRunning, SyncOutcome
from tests.orchestration.conftest import Platform, expected_units, snapshot_units

WB_ONLY = "seller-1-severnyi-len"


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

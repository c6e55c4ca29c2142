"""A run whose worker was killed (kill -9) is not left "started" for good: the instance the CLI,
`make dev` and the demo use turns Dagster's run monitoring on, with bounds a dead worker hits."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import DagsterInstance

ROOT = Path(__file__).resolve().parents[2]


def test_the_embedded_instance_monitors_runs_and_fails_dead_ones(tmp_path: Path) -> None:
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled
        assert 0 < instance.run_monitoring_start_timeout_seconds <= 600
        # Outlives an enterprise tenant's first sync (61 order-feed pages at WB's one a minute)
        # and still ends a hung run the same morning.
        assert 2 * 3600 <= instance.run_monitoring_max_runtime_seconds <= 4 * 3600
        assert instance.run_monitoring_max_resume_run_attempts == 0  # a dead sync is failed, not resumed
        # A dead worker is found by its launcher at the next poll, not only by max_runtime_seconds
        # (tests/orchestration/test_run_launcher.py kills one).
        assert instance.run_launcher.supports_check_run_worker_health

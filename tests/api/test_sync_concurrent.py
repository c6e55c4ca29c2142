"""Two `POST /sync/` of one tenant at the same moment: one launches a run, the other gets 409
`sync_already_running` naming it — Dagster is asked to launch once.

Dagster is a stand-in answering the calls the API makes (a real webserver is test_sync.py's
business); launching takes a moment there, so the two requests surely overlap."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.dagster_client import RunState
from api.deps import get_dagster
from api.main import create_app
from sandbox.scenario import Scenario
from sandbox.server import SandboxServer
from tests.api.conftest import make_settings, register


class SlowDagster:
    def __init__(self) -> None:
        self.launched: list[str] = []
        self.lock = threading.Lock()

    def version(self) -> str:
        return "test"

    def active_run(self, tenant_id: str) -> str | None:
        with self.lock:
            return next((r for r in self.launched if r.endswith(tenant_id)), None)

    def launch_sync(self, tenant_id: str, tier: str, marketplaces: list[str], trigger: str = "api") -> str:
        time.sleep(0.5)
        with self.lock:
            run_id = f"run{len(self.launched)}-{tenant_id}"
            self.launched.append(run_id)
        return run_id

    def run(self, run_id: str) -> RunState | None:
        return RunState(run_id, "running", None, None, None)


def test_two_sync_requests_at_once_launch_one_run(
    tmp_path: Path, app_db: str, sandbox: SandboxServer, scenario: Scenario
) -> None:
    dagster = SlowDagster()
    app = create_app(make_settings(tmp_path, app_db, sandbox))
    app.dependency_overrides[get_dagster] = lambda: dagster
    with TestClient(app) as client:
        seller = register(client, "Северный лён")
        wb = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")
        connected = client.post(
            "/api/v1/credentials/",
            json={"marketplace": "wildberries", **wb["credentials"]},
            headers=seller.auth,
        )
        assert connected.status_code == 201, connected.text
        start = threading.Barrier(2)
        answers: list[tuple[int, dict]] = []

        def launch() -> None:
            start.wait()
            response = client.post("/api/v1/sync/", headers=seller.auth)
            answers.append((response.status_code, response.json()))

        threads = [threading.Thread(target=launch) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(status for status, _ in answers) == [202, 409], answers
    accepted = next(body for status, body in answers if status == 202)
    refused = next(body for status, body in answers if status == 409)
    assert refused["error"]["code"] == "sync_already_running"
    assert len(dagster.launched) == 1
    assert dagster.launched[0] in str(accepted), accepted

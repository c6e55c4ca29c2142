"""Sync control through a real Dagster webserver: the API launches a run of the tenant's partition
over GraphQL, refuses a second while it runs, and reports its status and history; the synced
stock then reads back through the API.

The webserver runs the repo's workspace in a subprocess with its own DAGSTER_HOME. Runs are
launched right away (DefaultRunCoordinator): the queued coordinator of dagster.yaml needs the
daemon, and the daemon would also start the schedules.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from api.main import create_app
from sandbox.scenario import Scenario
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.conftest import FERNET_KEY, SCALE, make_settings, register

REPO = Path(__file__).resolve().parents[2]
# Generous: a code server on a loaded 2-core machine took over 2 minutes to load the definitions.
STARTUP_SECONDS = 240
RUN_SECONDS = 240
pytestmark = pytest.mark.timeout(600)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dagster_url(
    tmp_path_factory: pytest.TempPathFactory, app_db: str, sandbox: SandboxServer
) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("platform")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config.pop("run_queue", None)  # the queue's settings; runs here start at once
    config["run_coordinator"] = {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    }
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "STOCK_TRACKER_HOME": str(home),
        "STOCK_TRACKER_APP_DATABASE_URL": app_db,
        "STOCK_TRACKER_WAREHOUSE_URL": f"duckdb:///{home}/warehouse/{{tenant}}.duckdb",
        "STOCK_TRACKER_ENCRYPTION_KEYS": FERNET_KEY,
        "STOCK_TRACKER_MARKETPLACE_TIME_SCALE": str(SCALE),
        **{f"STOCK_TRACKER_{key.upper()}_URL": url for key, url in sandbox.urls.items()},
    }
    log = (home / "webserver.log").open("w")
    webserver = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster-webserver")),
            "-w",
            str(REPO / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        _wait_for_code_location(url, webserver, home / "webserver.log")
        yield url, home
    finally:
        webserver.terminate()
        try:
            webserver.wait(timeout=20)
        except subprocess.TimeoutExpired:
            webserver.kill()
        log.close()


def _wait_for_code_location(url: str, process: subprocess.Popen, log: Path) -> None:
    query = "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } } } } }"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited: {log.read_text()[-3000:]}")
        try:
            data = httpx.post(url, json={"query": query}, timeout=5).json()["data"]["repositoriesOrError"]
            if any(j["name"] == "tenant_sync" for n in data.get("nodes", []) for j in n["jobs"]):
                return
        except (httpx.HTTPError, KeyError, TypeError, json.JSONDecodeError):
            pass
        time.sleep(1)
    pytest.fail(f"the code location did not load in {STARTUP_SECONDS} s: {log.read_text()[-3000:]}")


@pytest.fixture
def platform_client(
    dagster_url: tuple[str, Path], app_db: str, sandbox: SandboxServer
) -> Iterator[TestClient]:
    url, home = dagster_url
    settings: Settings = make_settings(home, app_db, sandbox, dagster_graphql_url=url)
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_sync_runs_in_dagster_and_its_status_and_history_come_back(
    platform_client: TestClient, scenario: Scenario
) -> None:
    client = platform_client
    assert client.get("/api/v1/health/ready").json() == {
        "status": "ok",
        "checks": {"database": "ok", "dagster": "ok"},
    }
    seller = register(client, "Северный лён")
    wb = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")
    connected = client.post(
        "/api/v1/credentials/", json={"marketplace": "wildberries", **wb["credentials"]}, headers=seller.auth
    )
    assert connected.status_code == 201, connected.text

    launched = client.post("/api/v1/sync/", headers=seller.auth)
    assert launched.status_code == 202, launched.text
    run = launched.json()
    assert run["status"] in ("queued", "running") and run["trigger"] == "api" and run["tier"] == "starter"

    again = client.post("/api/v1/products/sync", headers=seller.auth)  # the alias, while the first runs
    assert again.status_code == 409, again.text
    refused = again.json()["error"]
    assert refused["code"] == "sync_already_running" and run["id"] in refused["message"]

    deadline = time.monotonic() + RUN_SECONDS
    status = run
    while status["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)
        answer = client.get(f"/api/v1/sync/status/{run['id']}", headers=seller.auth)
        assert answer.status_code == 200, answer.text
        status = answer.json()
    assert status["status"] == "success", status
    assert status["finished_at"] and status["error"] is None

    history = client.get("/api/v1/sync/history", headers=seller.auth).json()
    assert history["total"] == 1 and history["items"][0]["id"] == run["id"]
    assert history["items"][0]["status"] == "success"

    # The run loaded the seller's stock: the API reads it back.
    products = client.get("/api/v1/products/", params={"page_size": 200}, headers=seller.auth).json()
    expected = {p["nm_id"] for p in wb["products"]}
    assert {p["product_id"] for p in products["items"]} <= expected and products["total"] > 0
    units = sum(s["quantity"] for s in wb["stocks"])
    assert sum(p["stock"] for p in products["items"]) == units

    # Another tenant cannot see the run.
    stranger = register(client, "Stranger")
    assert client.get(f"/api/v1/sync/status/{run['id']}", headers=stranger.auth).status_code == 404

"""A real Prometheus server scrapes the running API and evaluates the shipped alert rules: the
app-database alert is inactive while PostgreSQL answers and fires once the API cannot reach it.

The API runs in production mode, so /metrics answers only its bearer token: Prometheus scrapes it
with the shipped job's `authorization` (deploy/prometheus/prometheus.yml), the token in a file as
compose mounts it; a copy of the job without the token is refused (its target is down).

Only the wait is shortened: scrape and evaluation every second, and the rule's `for` cut to a few
seconds; the expression, labels and annotations are the shipped ones.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
import yaml
from cryptography.fernet import Fernet

from api.main import create_app
from settings import Settings
from tests.ops.tools import tool
from warehouse.app_db import engine_for, migrate

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules" / "stock-tracker.yml"
SHIPPED = RULES.parents[1] / "prometheus.yml"
METRICS_TOKEN = "metrics-" + "t" * 40
ALERT = "StockTrackerAppDatabaseDown"
API_JOB = "stock-tracker-api"
WAIT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api_url(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    migrate(pg_url)
    settings = Settings(
        environment="production",
        metrics_token=METRICS_TOKEN,
        home=tmp_path,
        app_database_url=pg_url,
        warehouse_url=f"duckdb:///{tmp_path}/warehouse/{{tenant}}.duckdb",
        encryption_keys=Fernet.generate_key().decode(),
        jwt_secret="x" * 48,
        dagster_graphql_url="http://127.0.0.1:9/graphql",
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine_for(pg_url).dispose()


@pytest.fixture
def prometheus(api_url: str, tmp_path: Path) -> Iterator[str]:
    shipped = yaml.safe_load(RULES.read_text())
    rule = next(r for g in shipped["groups"] for r in g["rules"] if r.get("alert") == ALERT)
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "under-test", "rules": [{**rule, "for": "3s"}]}]}))
    # The shipped API job as it is, pointed at this API and at a token file written here.
    job = next(j for j in yaml.safe_load(SHIPPED.read_text())["scrape_configs"] if j["job_name"] == API_JOB)
    token_file = tmp_path / "metrics_token"
    token_file.write_text(METRICS_TOKEN + "\n")  # as an .env value mounted by compose may end
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [api_url]}]
    no_token = {k: v for k, v in job.items() if k != "authorization"} | {"job_name": "no-token"}
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [job, no_token],
            }
        )
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, "Prometheus ready", process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait(check: Any, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode} while waiting for: {what}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"timed out after {WAIT_SECONDS} s waiting for: {what}")


def alert_state(url: str) -> str:
    """The rule's state as Prometheus reports it: inactive, pending or firing."""
    groups = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    return next(r["state"] for g in groups for r in g["rules"] if r["name"] == ALERT)


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5).json()["data"]["result"]


def test_database_alert_goes_from_inactive_to_firing(prometheus: str, pg_url: str, admin_url: str) -> None:
    # Scraped, evaluated, and quiet while the database answers.
    _wait(lambda: _query(prometheus, "stock_tracker_app_database_up == 1"), "a scrape with the database up")
    _wait(
        lambda: _query(prometheus, f'count(ALERTS{{alertname="{ALERT}"}}) or vector(0)'), "a rule evaluation"
    )
    assert alert_state(prometheus) == "inactive"
    # Only the scrape with the token got in.
    _wait(lambda: _query(prometheus, 'up{job="no-token"} == 0'), "the scrape without the token refused")
    assert _query(prometheus, f'up{{job="{API_JOB}"}} == 1')

    # PostgreSQL stops accepting the API's connections.
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    try:
        _wait(lambda: alert_state(prometheus) == "firing", f"{ALERT} firing")
        firing = httpx.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        alert = next(a for a in firing if a["labels"]["alertname"] == ALERT)
        assert alert["state"] == "firing" and alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"].startswith("The app database does not answer the API")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

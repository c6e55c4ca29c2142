"""The API's /metrics as an operator reads it: after real syncs through the Dagster job, the sync
counters, durations, staleness, marketplace calls and rows loaded move, read back from the app
database and the Dagster instance; every metric the dashboard and the alert rules query exists."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from api.main import create_app
from assets.run_records import record_run
from assets.runs import SyncOutcome, run_sync
from definitions import build_definitions
from tests.orchestration.conftest import Platform
from warehouse.models import Tenant, utcnow
from warehouse.sync_runs import recent_sync_runs
from warehouse.tenants import update_settings

WB_ONLY, BOTH = "seller-1-severnyi-len", "seller-2-urban-fox"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Series Prometheus makes itself, not the API.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "ALERTS"}
SERVICE_ACCOUNT = "stock-tracker@demo.iam.gserviceaccount.com"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


@pytest.fixture
def api(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    # The API reads queued/running runs from the same Dagster instance the syncs ran in.
    monkeypatch.setenv("DAGSTER_HOME", platform.instance.root_directory)
    with TestClient(create_app(platform.settings)) as client:
        yield client


@pytest.mark.parametrize("platform", ["postgres"], indirect=True)
def test_syncs_move_the_counters_and_the_staleness(platform: Platform, api: TestClient) -> None:
    # Both tenants signed up five hours ago and never synced: past twice the starter cadence (2 h).
    with platform.session() as session:
        session.execute(update(Tenant).values(created_at=utcnow() - timedelta(hours=5)))
        session.commit()
    before = scrape(api)
    assert value(before, "stock_tracker_app_database_up") == 1
    assert value(before, "stock_tracker_tenants_stale", tier="starter") == 2
    assert value(before, "stock_tracker_last_successful_sync_age_seconds", tier="starter") >= 5 * 3600 - 60
    assert total(before, "stock_tracker_syncs_total") == 0
    assert value(before, "stock_tracker_dagster_up") == 1
    assert value(before, "stock_tracker_dagster_runs", state="queued") == 0

    # A demo sync: WB's card list answers 429 twice (waited out), and the sheet is published.
    platform.fault(service="wb_content", endpoint="/content/v2/get/cards/list", kind="429", count=2)
    assert demo_sync(platform, WB_ONLY).success
    after = scrape(api)
    # Two publishes: the stock worksheets, then the supply plan's own worksheet.
    assert value(after, "stock_tracker_sheet_publishes_total", outcome="published") == 2
    assert value(after, "stock_tracker_sheet_writes_total") >= 2
    # The guard found WB's numbers consistent: no break counted.
    assert total(after, "stock_tracker_supply_guard_breaks_total") == 0
    budget = value(after, "stock_tracker_sheets_budget_available", account=SERVICE_ACCOUNT, kind="writes")
    # The budget row exists once a publish drew from it (refilled since: the sandbox runs fast).
    assert 0 < budget <= value(after, "stock_tracker_sheets_budget_burst") == 10
    assert value(after, "stock_tracker_syncs_total", tier="starter", outcome="success") == 1
    assert value(after, "stock_tracker_sync_duration_seconds_count", tier="starter") == 1
    assert value(after, "stock_tracker_sync_duration_seconds_sum", tier="starter") > 0
    assert value(after, "stock_tracker_tenants_stale", tier="starter") == 1
    # The stalest tenant is still the one that never synced; the 95th percentile is that one too.
    assert value(after, "stock_tracker_last_successful_sync_age_seconds", tier="starter") >= 5 * 3600 - 60
    assert total(after, "stock_tracker_marketplace_requests_total", marketplace="wildberries") > 5
    assert total(after, "stock_tracker_marketplace_throttled_total", marketplace="wildberries") == 2
    assert value(after, "stock_tracker_marketplace_throttled_total", marketplace="wildberries",
                 family="content.cards_list") == 2  # fmt: skip
    assert total(after, "stock_tracker_marketplace_retries_total", marketplace="wildberries") >= 2
    assert value(after, "stock_tracker_rows_loaded_total", marketplace="wildberries") > 0
    assert total(after, "stock_tracker_marketplace_requests_total", marketplace="ozon") == 0

    # A marketplace down for good: the sync fails, and the 5xx answers are counted.
    platform.fault(service="ozon", endpoint="*", kind="503", fraction=1.0)
    failed = platform.sync(BOTH)
    assert not failed.success
    broken = scrape(api)
    assert value(broken, "stock_tracker_syncs_total", tier="starter", outcome="failed") == 1
    assert value(broken, "stock_tracker_syncs_total", tier="starter", outcome="success") == 1
    assert total(broken, "stock_tracker_marketplace_server_errors_total", marketplace="ozon") > 0
    assert value(broken, "stock_tracker_tenants_stale", tier="starter") == 1  # a failure is not fresh data
    assert value(broken, "stock_tracker_sync_duration_seconds_count", tier="starter") == 2

    # The daemon's sensor sees the same run again: it is still one sync.
    assert record_run(platform.instance, failed.run_id, platform.settings.app_database_url)
    again = scrape(api)
    assert value(again, "stock_tracker_syncs_total", tier="starter", outcome="failed") == 1
    assert value(again, "stock_tracker_sync_duration_seconds_count", tier="starter") == 2

    # What the failed run recorded is what the API shows the seller.
    with platform.session() as session:
        runs = recent_sync_runs(session, BOTH)
    assert [r.status for r in runs] == ["failed"] and runs[0].run_id == failed.run_id
    assert "HTTP 503" in (runs[0].error or "")

    # Every metric the Grafana dashboard and the alert rules query is exported by the system.
    exported = {name for name, _ in broken} | {
        name for name, _ in scrape(api) if name.startswith("stock_tracker_http_")
    }
    queried = queried_metrics()
    assert queried, "no metric found in the dashboard or the rules"
    missing = sorted(queried - exported - PROMETHEUS_OWN)
    assert not missing, f"queried but not exported: {missing}"


def demo_sync(platform: Platform, tenant_id: str) -> SyncOutcome:
    """The demo's sync: the tenant's sheet goes to a spreadsheet in the sandbox's Google Sheets."""
    requests.post(
        f"{platform.server.control_url}/sheets/spreadsheets",
        json={"id": f"demo-{tenant_id}", "title": tenant_id, "editors": [SERVICE_ACCOUNT]},
        timeout=10,
    ).raise_for_status()
    with platform.session() as session:
        update_settings(session, tenant_id, spreadsheet_id=f"demo-{tenant_id}")
    settings = platform.settings.model_copy(update={"google_service_account_email": SERVICE_ACCOUNT})
    defs = build_definitions(settings, retry_delay_seconds=0.05)
    return run_sync(defs, platform.instance, platform.tenants()[tenant_id], "demo")


_METRIC = re.compile(r"\b(stock_tracker_[a-z0-9_]+|up|ALERTS)\b")


def queried_metrics() -> set[str]:
    """Metric names in every PromQL expression of the dashboards and the alert rules."""
    expressions: list[str] = []
    for dashboard in (DEPLOY / "grafana").glob("*.json"):
        expressions += _dashboard_exprs(json.loads(dashboard.read_text()))
    for rules in (DEPLOY / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(rules.read_text())["groups"]:
            expressions += [r["expr"] for r in group["rules"]]
    return {m for expr in expressions for m in _METRIC.findall(expr)}


def _dashboard_exprs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        if isinstance(node.get("query"), dict) and isinstance(node["query"].get("query"), str):
            found.append(node["query"]["query"])  # template variables
        return found + [e for v in node.values() for e in _dashboard_exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in _dashboard_exprs(v)]
    return []

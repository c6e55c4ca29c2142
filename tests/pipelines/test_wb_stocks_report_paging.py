"""WB's stocks reports (`stocks-report/wb-warehouses`, `.../seller-warehouses`) page by offset and
limit. With the page shrunk (WB's real page is 250 000 rows, more than any test scenario has), a
sync crosses several page boundaries — ending on an exactly full page or a partly full one — and
every stock row arrives exactly once: none skipped, none counted twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from pipelines.destination import tenant_pipeline
from pipelines.http_policy import HttpPolicy
from pipelines.runner import run_source
from pipelines.wildberries import settings as S
from pipelines.wildberries import wildberries_source
from pipelines.wildberries.helpers import WbUrls
from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer

SCALE = 1000.0
PAGES = 5  # full pages of WB-warehouse rows in the scenario
WB_WAREHOUSES_REPORT = "/api/analytics/v1/stocks-report/wb-warehouses"
SELLER_WAREHOUSES_REPORT = "/api/analytics/v1/stocks-report/seller-warehouses"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """A WB seller whose WB-warehouse stock rows (one per size × warehouse) are a multiple of PAGES."""
    raw = generate_scenario(sellers=1, skus=40, warehouses=6, days=3, seed=23)
    seller = raw["sellers"][0]
    on_wb = {w["id"] for w in seller["warehouses"] if w["kind"] == "marketplace"}
    unique = {(s["chrt_id"], s["warehouse_id"]): s for s in seller["stocks"]}
    wb_rows = [s for s in unique.values() if s["warehouse_id"] in on_wb]
    keep = len(wb_rows) - len(wb_rows) % PAGES
    seller["stocks"] = wb_rows[:keep] + [s for s in unique.values() if s["warehouse_id"] not in on_wb]
    assert keep >= 10 * PAGES, "enough rows for pages of several rows each"
    return parse_scenario(orjson.dumps(raw))


@pytest.fixture
def server(scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(scenario, time_scale=SCALE) as running:
        yield running


def expected_rows(seller: dict[str, Any]) -> dict[tuple[int, str, str], int]:
    """Units per (size, kind, warehouse) as the scenario holds them, zeros included."""
    warehouses = {w["id"]: w for w in seller["warehouses"]}
    units: dict[tuple[int, str, str], int] = defaultdict(int)
    for stock in seller["stocks"]:
        warehouse = warehouses[stock["warehouse_id"]]
        kind = "FBO" if warehouse["kind"] == "marketplace" else "FBS"
        units[(stock["chrt_id"], kind, warehouse["name"])] += stock["quantity"]
    return dict(units)


def wb_rows(seller: dict[str, Any]) -> int:
    on_wb = {w["id"] for w in seller["warehouses"] if w["kind"] == "marketplace"}
    return sum(1 for s in seller["stocks"] if s["warehouse_id"] in on_wb)


@pytest.mark.parametrize("last_page", ["exactly full", "partly full"])
def test_every_stock_row_arrives_once_across_page_boundaries(
    server: SandboxServer,
    scenario: Scenario,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    last_page: str,
) -> None:
    seller: dict[str, Any] = scenario["sellers"][0]  # type: ignore[assignment]
    rows = wb_rows(seller)
    page = rows // PAGES if last_page == "exactly full" else rows // PAGES + 1
    assert (rows % page == 0) == (last_page == "exactly full")
    monkeypatch.setattr(S, "REPORT_PAGE", page)

    pipeline = tenant_pipeline("acme-shop", "wildberries", f"duckdb:///{tmp_path}/w.duckdb", tmp_path / "p")
    urls = WbUrls.from_sandbox(server.urls)
    policy = HttpPolicy(time_scale=SCALE, read_timeout=5.0, backoff_initial=0.5)
    token = seller["credentials"]["token"]
    run_source(pipeline, lambda: wildberries_source(token, "acme-shop", datetime.now(UTC), urls, 30, policy))

    with pipeline.sql_client() as client:
        loaded = client.execute_sql(
            "select chrt_id, warehouse_kind, warehouse_name, quantity from wb_stock "
            "where warehouse_kind <> 'TRANSIT'"
        )
    units = {(int(c), kind, name): int(q) for c, kind, name, q in loaded}
    assert len(loaded) == len(units), "one row per size, kind and warehouse"
    # A skipped row is missing here; a row served twice is summed into double units.
    expected = expected_rows(seller)
    missing = expected.keys() - units.keys()
    unexpected = units.keys() - expected.keys()
    wrong = {k for k in expected.keys() & units.keys() if units[k] != expected[k]}
    assert not (missing or unexpected or wrong), (
        f"{len(missing)} rows missing, {len(unexpected)} unexpected, {len(wrong)} with other units"
    )

    log = requests.get(server.control_url + "/requests?service=wb_analytics", timeout=5).json()
    pages = [e["status"] for e in log if e["path"] == WB_WAREHOUSES_REPORT]
    assert pages.count(200) >= PAGES, f"the sync crossed the page boundaries ({pages})"
    assert set(pages) == {200}
    assert any(e["path"] == SELLER_WAREHOUSES_REPORT for e in log)

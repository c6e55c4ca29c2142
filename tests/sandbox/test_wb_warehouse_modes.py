"""WB's warehouse mode per seller: a seller's own `wb_warehouse_mode` beats the scenario's (and the
control switch), so one sandbox serves a seller on today's aggregated reporting next to one on the
pre-2026-08-15 detailed names."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, ScenarioError, parse_scenario
from sandbox.server import SandboxServer
from tests.sandbox.conftest import TIME_SCALE, Wb

REPORT = "/api/analytics/v1/stocks-report/wb-warehouses"


@pytest.fixture(scope="module")
def two_modes() -> Scenario:
    """Two WB sellers under a `detailed` scenario; the first one reports `aggregated` on its own."""
    raw = generate_scenario(sellers=2, skus=30, warehouses=8, days=5, seed=11)
    raw["wb_warehouse_mode"] = "detailed"
    first = next(s for s in raw["sellers"] if s["marketplace"] == "wildberries")
    first["wb_warehouse_mode"] = "aggregated"
    return parse_scenario(orjson.dumps(raw))


@pytest.fixture
def sellers(two_modes: Scenario) -> Iterator[tuple[Wb, Wb, dict[str, Any]]]:
    wb_sellers = [s for s in two_modes["sellers"] if s["marketplace"] == "wildberries"]
    with SandboxServer(two_modes, time_scale=TIME_SCALE) as server:
        aggregated, detailed = (Wb(server, s["credentials"]["token"]) for s in wb_sellers)
        yield aggregated, detailed, wb_sellers[1]


def stock_names(wb: Wb) -> set[str]:
    wb.server.state.buckets.reset()  # the report allows one call per 20 s; modes are what we test
    answer = wb.post("wb_analytics", REPORT)
    assert answer.status_code == 200, answer.text
    return {item["warehouseName"] for item in answer.json()["data"]["items"]}


def order_names(wb: Wb) -> set[str]:
    """Names of WB's own warehouses in the order feed of the last 30 days."""
    start = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    wb.server.state.buckets.reset()
    answer = wb.post(
        "wb_analytics",
        "/api/analytics/v1/order-feed",
        {"selectedPeriod": {"start": start}, "pagination": {"limit": 1000}},
    )
    assert answer.status_code == 200, answer.text
    return {o["warehouseName"] for o in answer.json()["data"]["orders"] if not o["isMp"]}


def test_a_sellers_own_mode_overrides_the_scenarios(sellers: tuple[Wb, Wb, dict[str, Any]]) -> None:
    aggregated, detailed, detailed_seller = sellers
    assert stock_names(aggregated) == {"Склад WB"}
    assert order_names(aggregated) == {"Склад WB"}
    named = {w["name"] for w in detailed_seller["warehouses"] if w["kind"] == "marketplace"}
    assert "Склад WB" not in stock_names(detailed) and stock_names(detailed) <= named
    assert order_names(detailed) and order_names(detailed) <= named


def test_the_control_switch_moves_only_sellers_without_a_mode(
    sellers: tuple[Wb, Wb, dict[str, Any]],
) -> None:
    aggregated, detailed, _ = sellers
    detailed.control("/settings", {"wb_warehouse_mode": "aggregated"})
    assert stock_names(detailed) == {"Склад WB"}
    detailed.control("/settings", {"wb_warehouse_mode": "detailed"})
    assert stock_names(aggregated) == {"Склад WB"}  # its own mode still holds
    assert "Склад WB" not in stock_names(detailed)


def test_an_unknown_mode_is_refused_naming_the_seller(two_modes: Scenario) -> None:
    raw: dict[str, Any] = copy.deepcopy(dict(two_modes))
    raw["sellers"][0]["wb_warehouse_mode"] = "per-warehouse"
    with pytest.raises(ScenarioError, match=r"sellers\.0\.wildberries\.wb_warehouse_mode"):
        parse_scenario(orjson.dumps(raw))

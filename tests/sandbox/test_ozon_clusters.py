"""Ozon's clusters in the sandbox: `/v1/cluster/list` names the clusters of the seller's Ozon
warehouses, `/v1/analytics/stocks` reports supplies in transit and requested per warehouse, and
the guard's identity (clusters sum to the `/v4` totals) can be broken on purpose.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from openapi_core import OpenAPI

from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer
from tests.sandbox.conftest import TIME_SCALE
from tests.sandbox.test_ozon import CLOCK, HOR, KAZ, MOSCOW, OTHER, PUSH, SHOP, Ozon, ozon_spec, v4_totals

__all__ = ["ozon_spec"]  # the module fixture, shared


def _shop_with_supplies() -> dict[str, Any]:
    shop = copy.deepcopy(SHOP)
    for stock in shop["stocks"]:
        if (stock["sku"], stock["warehouse_id"]) == (1_000_001, HOR):
            stock.update(in_supply=12, requested=30)
    return shop


@pytest.fixture
def ozon(ozon_spec: OpenAPI) -> Iterator[Ozon]:
    scenario = parse_scenario(
        orjson.dumps({"version": 1, "clock": CLOCK.isoformat(), "sellers": [_shop_with_supplies(), OTHER]})
    )
    with SandboxServer(scenario, time_scale=TIME_SCALE) as server:
        yield Ozon(server, ozon_spec, _shop_with_supplies())


def test_cluster_list_names_the_clusters_of_the_sellers_ozon_warehouses(ozon: Ozon) -> None:
    answer = ozon.post("/v1/cluster/list", {"cluster_type": "CLUSTER_TYPE_OZON"})
    assert answer.status_code == 200, answer.text
    clusters = {c["name"]: c for c in answer.json()["clusters"]}
    assert set(clusters) == {MOSCOW, "Казань"}
    assert clusters[MOSCOW]["id"] == 4002
    warehouses = {w["warehouse_id"] for lc in clusters[MOSCOW]["logistic_clusters"] for w in lc["warehouses"]}
    assert warehouses == {HOR, PUSH}
    kazan = [w["warehouse_id"] for lc in clusters["Казань"]["logistic_clusters"] for w in lc["warehouses"]]
    assert kazan == [KAZ]

    only = ozon.post("/v1/cluster/list", {"cluster_type": "CLUSTER_TYPE_OZON", "cluster_ids": ["4002"]})
    assert [c["id"] for c in only.json()["clusters"]] == [4002]
    assert ozon.post("/v1/cluster/list", {"cluster_type": "CLUSTER_TYPE_CIS"}).json() == {"clusters": []}


@pytest.mark.parametrize("body", [{}, {"cluster_type": "MARS"}])
def test_cluster_list_requires_a_known_cluster_type(ozon: Ozon, body: dict[str, Any]) -> None:
    answer = ozon.post("/v1/cluster/list", body)
    assert answer.status_code == 400 and answer.json()["code"] == 3


def test_analytics_stocks_reports_supplies_in_transit_and_requested(ozon: Ozon) -> None:
    skus = [str(p["sku"]) for p in SHOP["products"]]
    items = ozon.paced("/v1/analytics/stocks", {"skus": skus}).json()["items"]
    cells = {(i["sku"], i["warehouse_id"]): i for i in items}
    hor = cells[(1_000_001, HOR)]
    # 12 in a supply on its way (the 2 units on their way to buyers are not a supply); 30 requested.
    assert (hor["transit_stock_count"], hor["requested_stock_count"]) == (12, 30)
    push = cells[(1_000_001, PUSH)]
    assert (push["transit_stock_count"], push["requested_stock_count"]) == (0, 0)
    # Cluster rate: 4 units in 28 days over ХОРУГВИНО + ПУШКИНО, so the same on both of its rows.
    assert hor["ads_cluster"] == push["ads_cluster"] == round(4 / 28, 2)
    assert hor["idc_cluster"] == round((10 + 5) / (4 / 28), 1)


def test_clusters_stop_summing_to_v4_when_the_identity_is_broken(ozon: Ozon) -> None:
    skus = [str(p["sku"]) for p in SHOP["products"]]

    def gaps() -> dict[int, int]:
        fbo = v4_totals(ozon, 1000)["fbo"]
        items = ozon.paced("/v1/analytics/stocks", {"skus": skus}).json()["items"]
        by_sku: dict[int, int] = {}
        for item in items:
            by_sku[item["sku"]] = by_sku.get(item["sku"], 0) + item["available_stock_count"]
        return {
            sku: present - reserved - by_sku.get(sku, 0)
            for sku, (present, reserved) in fbo.items()
            if present - reserved != by_sku.get(sku, 0)
        }

    assert gaps() == {}
    ozon.control("/settings", {"broken_identities": ["ozon_clusters_vs_totals"]})
    assert gaps() == {1_000_001: 7}
    refused = ozon.server.control_url + "/settings"
    assert requests.post(refused, json={"broken_identities": ["nope"]}, timeout=10).status_code == 400

"""WB's big answers go straight into Arrow: the same rows as the JSON gives, read column by column;
the cards list pages while the stock reports load; DuckDB loads one job at a time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
import requests

from pipelines.destination import destination_from_url, tenant_pipeline
from pipelines.http_policy import HttpPolicy
from pipelines.runner import run_source
from pipelines.wildberries import settings as S
from pipelines.wildberries import tables as T
from pipelines.wildberries import wildberries_source
from pipelines.wildberries.helpers import WbClient, WbUrls
from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer

SCALE = 1000.0


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    raw = generate_scenario(sellers=1, skus=1000, warehouses=6, days=3, seed=23)
    return parse_scenario(orjson.dumps(raw))


@pytest.fixture
def server(scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(scenario, time_scale=SCALE) as running:
        yield running


def client_of(server: SandboxServer, scenario: Scenario) -> WbClient:
    token = scenario["sellers"][0]["credentials"]["token"]
    return WbClient(token, WbUrls.from_sandbox(server.urls), HttpPolicy(time_scale=SCALE))


def as_json(client: WbClient, method: str, path: str, group: Any, **kwargs: Any) -> Any:
    """The answer parsed as plain JSON, through the same client."""
    return client.api.call(method, client.urls.analytics + path, group, endpoint=path, **kwargs)[1]


def test_stock_report_rows_are_the_json_items(server: SandboxServer, scenario: Scenario) -> None:
    client = client_of(server, scenario)
    items = as_json(
        client, "POST", S.STOCKS_WB, S.GROUP_STOCKS_WB, json_body={"limit": S.REPORT_PAGE, "offset": 0}
    )["data"]["items"]

    table = client.wb_warehouse_stock()

    assert table.schema == T.STOCK_ROWS
    assert table.to_pylist() == [
        {
            "nm_id": r["nmId"],
            "chrt_id": r["chrtId"],
            "warehouse_id": r["warehouseId"],
            "warehouse_name": r["warehouseName"],
            "region": r["regionName"],
            "warehouse_kind": "FBO",
            "quantity": r["quantity"],
            "in_way_to_client": r["inWayToClient"],
            "in_way_from_client": r["inWayFromClient"],
        }
        for r in items
    ]
    assert len(items) > 1000


def test_remains_per_product_sum_the_json_lines(server: SandboxServer, scenario: Scenario) -> None:
    client = client_of(server, scenario)
    flags = {f: "true" for f in ("groupByNm", "groupBySa", "groupByBarcode", "groupBySize")}
    task = as_json(client, "GET", S.REMAINS_CREATE, S.GROUP_REMAINS_CREATE, params=flags)["data"]["taskId"]
    while (
        as_json(client, "GET", S.REMAINS_STATUS.format(task_id=task), S.GROUP_REMAINS_STATUS)["data"][
            "status"
        ]
        != "done"
    ):
        time.sleep(0.01)
    rows = as_json(client, "GET", S.REMAINS_DOWNLOAD.format(task_id=task), S.GROUP_REMAINS_DOWNLOAD)
    totals: dict[tuple[int, str], int] = {}
    for row in rows:
        for entry in row["warehouses"]:
            key = (int(row["nmId"]), entry["warehouseName"])
            totals[key] = totals.get(key, 0) + int(entry["quantity"])

    table = client.remains_by_product()

    assert table.to_pylist() == [
        {"nm_id": n, "line": w, "quantity": q} for (n, w), q in sorted(totals.items())
    ]


def test_a_broken_or_unexpected_report_is_an_unreadable_body() -> None:
    """ValueError is what the HTTP policy retries as an unreadable body."""
    for body in (b'{"data": {"items": [', b"<html>", b'{"data": {"items": [{"nmId": "x"}]}}', b'{"a": 1}'):
        with pytest.raises(ValueError):
            T.stocks_report_items(body)
    with pytest.raises(ValueError):
        T.remains_report_rows(b'{"rows": []}')
    assert T.stocks_report_items(b'{"data": {"items": []}}').num_rows == 0


def test_rows_merge_per_key_as_a_dict_would() -> None:
    rows = pa.table({"k": ["a", "b", "a", "c", "b"], "n": [1, 2, 3, 4, 5], "tag": ["1", "2", "3", "4", "5"]})

    assert T.last_per_key(rows, ["k"]).to_pylist() == [
        {"k": "a", "n": 3, "tag": "3"},
        {"k": "b", "n": 5, "tag": "5"},
        {"k": "c", "n": 4, "tag": "4"},
    ]
    assert T.sum_per_key(rows, ["k"], ["n"]).to_pylist() == [
        {"k": "a", "n": 4, "tag": "1"},
        {"k": "b", "n": 7, "tag": "2"},
        {"k": "c", "n": 4, "tag": "4"},
    ]


def test_cards_page_while_the_stock_reports_load(
    server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> None:
    """The products resource extracts in a worker thread: the stocks report is answered before the
    cards list's last page, not after all of them."""
    token = scenario["sellers"][0]["credentials"]["token"]
    urls = WbUrls.from_sandbox(server.urls)
    pipeline = tenant_pipeline("acme", "wildberries", f"duckdb:///{tmp_path}/w.duckdb", tmp_path / "p")
    policy = HttpPolicy(time_scale=SCALE)

    run_source(pipeline, lambda: wildberries_source(token, "acme", datetime.now(UTC), urls, 3, policy))

    log = requests.get(server.control_url + "/requests?service=wb_content", timeout=5).json()
    cards = [e["time"] for e in log if e["path"] == S.CARDS_LIST]
    log = requests.get(server.control_url + "/requests?service=wb_analytics", timeout=5).json()
    report = [e["time"] for e in log if e["path"] == S.STOCKS_WB]
    assert len(cards) > 5 and report
    assert report[0] < cards[-1]


def test_duckdb_loads_one_job_at_a_time(tmp_path: Path) -> None:
    destination = destination_from_url(f"duckdb:///{tmp_path}/w.duckdb")

    assert destination.capabilities().loader_parallelism_strategy == "sequential"

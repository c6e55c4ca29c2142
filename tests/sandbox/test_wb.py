"""The WB sandbox behaves as WB does: auth, limits, paging, reports, the 2026 changes."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.wb.tokens import make_token
from tests.sandbox.conftest import TIME_SCALE, Wb

REPORT = "/api/analytics/v1/stocks-report"


def wb_stock_by_warehouse(seller: dict[str, Any], kind: str) -> Counter[str]:
    names = {w["id"]: w["name"] for w in seller["warehouses"] if w["kind"] == kind}
    totals: Counter[str] = Counter()
    for stock in seller["stocks"]:
        if stock["warehouse_id"] in names:
            totals[names[stock["warehouse_id"]]] += stock["quantity"]
    return totals


def wait_for_report(wb: Wb, params: dict[str, str]) -> list[dict[str, Any]]:
    task = wb.get("wb_analytics", "/api/v1/warehouse_remains", params=params).json()["data"]["taskId"]
    seen = []
    for _ in range(200):
        answer = wb.get("wb_analytics", f"/api/v1/warehouse_remains/tasks/{task}/status")
        if answer.status_code == 429:
            time.sleep(float(answer.headers["X-Ratelimit-Retry"]))
            continue
        status = answer.json()["data"]["status"]
        seen.append(status)
        if status == "done":
            break
        time.sleep(0.01)
    assert seen[0] == "new" and "processing" in seen and seen[-1] == "done", seen
    answer = wb.get("wb_analytics", f"/api/v1/warehouse_remains/tasks/{task}/download")
    assert answer.status_code == 200, answer.text
    return answer.json()


# --- auth ---------------------------------------------------------------------------------------


def test_every_host_answers_ping_with_the_scenario_token(wb: Wb) -> None:
    for service in ("wb_content", "wb_analytics", "wb_statistics", "wb_marketplace", "wb_common"):
        answer = wb.get(service, "/ping")
        assert answer.status_code == 200
        assert answer.json()["Status"] == "OK"
        assert int(answer.headers["X-Ratelimit-Remaining"]) >= 0


def test_bearer_prefix_is_accepted_too(wb: Wb, wb_seller: dict[str, Any]) -> None:
    answer = wb.get(
        "wb_analytics", "/ping", headers={"Authorization": "Bearer " + wb_seller["credentials"]["token"]}
    )
    assert answer.status_code == 200


@pytest.mark.parametrize("token", ["", "not-a-jwt", make_token(random.Random(99))])
def test_unknown_or_malformed_token_gets_the_gateway_401(wb: Wb, token: str) -> None:
    answer = wb.get("wb_analytics", "/ping", headers={"Authorization": token})
    assert answer.status_code == 401
    body = answer.json()
    assert (
        body["title"] == "unauthorized" and body["status"] == 401 and body["origin"] == "s2s-api-auth-catalog"
    )
    assert body["detail"]


def test_token_without_a_category_is_refused_on_that_host_only(server: Any, scenario: Any) -> None:
    seller = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")
    no_analytics = make_token(random.Random(5), ("content", "marketplace", "statistics"))
    server.state.wb_accounts[no_analytics] = server.state.wb_accounts[seller["credentials"]["token"]]
    wb = Wb(server, no_analytics)
    refused = wb.get("wb_analytics", "/ping")
    assert refused.status_code == 401
    assert "token scope not allowed" in refused.json()["detail"]
    assert wb.get("wb_content", "/ping").status_code == 200


def test_expired_token_is_refused(server: Any, wb_seller: dict[str, Any]) -> None:
    expired = make_token(random.Random(6), expires_at=int(time.time()) - 60)
    server.state.wb_accounts[expired] = server.state.wb_accounts[wb_seller["credentials"]["token"]]
    answer = Wb(server, expired).get("wb_content", "/ping")
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]


# --- rate limits --------------------------------------------------------------------------------


def test_burst_beyond_the_bucket_gets_429_with_headers_and_retry_after_wait_succeeds(wb: Wb) -> None:
    first = wb.post("wb_analytics", f"{REPORT}/wb-warehouses")
    assert first.status_code == 200
    assert first.headers["X-Ratelimit-Remaining"] == "0"
    limited = wb.post("wb_analytics", f"{REPORT}/wb-warehouses")
    assert limited.status_code == 429
    assert limited.headers["Content-Type"].startswith("application/problem+json")
    assert limited.json()["title"] == "too many requests"
    retry = float(limited.headers["X-Ratelimit-Retry"])
    assert limited.headers["X-Ratelimit-Limit"] == "1"
    # 3 requests a minute = one every 20 s, time-scaled.
    assert 0 < retry <= 20 / TIME_SCALE + 0.01
    assert float(limited.headers["X-Ratelimit-Reset"]) >= retry
    time.sleep(retry + 0.01)
    assert wb.post("wb_analytics", f"{REPORT}/wb-warehouses").status_code == 200


def test_marketplace_4xx_costs_ten_requests(wb: Wb, wb_seller: dict[str, Any]) -> None:
    wb.control("/settings", {"time_scale": 0.001})  # freeze refills so the arithmetic is exact
    warehouse = next(w["id"] for w in wb_seller["warehouses"] if w["kind"] == "seller")
    chrt_id = wb_seller["products"][0]["sizes"][0]["chrt_id"]
    ok = wb.post("wb_marketplace", f"/api/v3/stocks/{warehouse}", {"chrtIds": [chrt_id]})
    assert ok.headers["X-Ratelimit-Remaining"] == "19"
    bad = wb.post("wb_marketplace", f"/api/v3/stocks/{warehouse}", {"chrtIds": []})
    assert bad.status_code == 400
    assert bad.json() == {"code": "IncorrectRequestBody", "message": "Incorrect required body"}
    again = wb.post("wb_marketplace", f"/api/v3/stocks/{warehouse}", {"chrtIds": [chrt_id]})
    assert again.headers["X-Ratelimit-Remaining"] == "8"


def test_limits_are_per_seller(server: Any, scenario: Any) -> None:
    sellers = [s for s in scenario["sellers"] if s["marketplace"] == "wildberries"]
    first, second = (Wb(server, s["credentials"]["token"]) for s in sellers[:2])
    assert first.post("wb_analytics", f"{REPORT}/wb-warehouses").status_code == 200
    assert first.post("wb_analytics", f"{REPORT}/wb-warehouses").status_code == 429
    assert second.post("wb_analytics", f"{REPORT}/wb-warehouses").status_code == 200


# --- stock: one data model behind every endpoint -------------------------------------------------


def test_stock_sums_agree_across_wb_endpoints(wb: Wb, wb_seller: dict[str, Any]) -> None:
    expected_fbo = wb_stock_by_warehouse(wb_seller, "marketplace")
    expected_fbs = wb_stock_by_warehouse(wb_seller, "seller")

    items = wb.post("wb_analytics", f"{REPORT}/wb-warehouses").json()["data"]["items"]
    by_report: Counter[str] = Counter()
    for item in items:
        by_report[item["warehouseName"]] += item["quantity"]
    assert by_report == expected_fbo

    remains = wait_for_report(wb, {"groupByNm": "true", "groupBySize": "true", "groupBySa": "true"})
    by_remains: Counter[str] = Counter()
    pseudo_total = 0
    for row in remains:
        for entry in row["warehouses"]:
            if entry["warehouseName"] == "Всего находится на складах":
                pseudo_total += entry["quantity"]
            elif not entry["warehouseName"].startswith("В пути"):
                by_remains[entry["warehouseName"]] += entry["quantity"]
            assert entry["quantity"] != 0
    assert by_remains == expected_fbo
    assert pseudo_total == sum(expected_fbo.values())

    seller_items = wb.post("wb_analytics", f"{REPORT}/seller-warehouses").json()["data"]["items"]
    by_seller_report: Counter[str] = Counter()
    for item in seller_items:
        by_seller_report[item["warehouseName"]] += item["quantity"]
    assert by_seller_report == expected_fbs

    chrt_ids = [s["chrt_id"] for p in wb_seller["products"] for s in p["sizes"]]
    by_fan_out: Counter[str] = Counter()
    for warehouse in wb.get("wb_marketplace", "/api/v3/warehouses").json():
        for start in range(0, len(chrt_ids), 1000):
            answer = wb.post(
                "wb_marketplace",
                f"/api/v3/stocks/{warehouse['id']}",
                {"chrtIds": chrt_ids[start : start + 1000]},
            )
            assert answer.status_code == 200
            by_fan_out[warehouse["name"]] += sum(s["amount"] for s in answer.json()["stocks"])
    assert +by_fan_out == expected_fbs


def test_report_paging_by_offset_and_limit_returns_every_row_once(wb: Wb) -> None:
    whole = wb.post("wb_analytics", f"{REPORT}/wb-warehouses").json()["data"]["items"]
    rows, offset = [], 0
    while True:
        answer = wb.post("wb_analytics", f"{REPORT}/wb-warehouses", {"limit": 100, "offset": offset})
        if answer.status_code == 429:
            time.sleep(float(answer.headers["X-Ratelimit-Retry"]))
            continue
        page = answer.json()["data"]["items"]
        rows += page
        if len(page) < 100:
            break
        offset += 100
    assert rows == whole and len(whole) > 100


def test_aggregated_mode_collapses_rf_wb_warehouses(wb: Wb, wb_seller: dict[str, Any]) -> None:
    wb.control("/settings", {"wb_warehouse_mode": "aggregated"})
    items = wb.post("wb_analytics", f"{REPORT}/wb-warehouses").json()["data"]["items"]
    assert {(i["warehouseId"], i["warehouseName"], i["regionName"]) for i in items} == {
        (-999999, "Склад WB", "Склад WB")
    }
    assert sum(i["quantity"] for i in items) == sum(wb_stock_by_warehouse(wb_seller, "marketplace").values())
    remains = wait_for_report(wb, {"groupByNm": "true"})
    names = {e["warehouseName"] for row in remains for e in row["warehouses"]}
    assert "Склад WB РФ" in names
    rf_named = {
        w["name"]
        for w in wb_seller["warehouses"]
        if w["kind"] == "marketplace"
        and w.get("region") not in ("Беларусь", "Казахстан")
        and w["name"] != "Коледино"
    }
    assert not names & rf_named
    # Seller warehouses keep their names.
    seller_names = {
        i["warehouseName"]
        for i in wb.post("wb_analytics", f"{REPORT}/seller-warehouses").json()["data"]["items"]
    }
    assert (
        seller_names == {w["name"] for w in wb_seller["warehouses"] if w["kind"] == "seller"} & seller_names
    )


def test_skus_in_stock_request_gets_the_2026_error(wb: Wb, wb_seller: dict[str, Any]) -> None:
    warehouse = next(w["id"] for w in wb_seller["warehouses"] if w["kind"] == "seller")
    answer = wb.post("wb_marketplace", f"/api/v3/stocks/{warehouse}", {"skus": ["2037031652319"]})
    assert answer.status_code == 400 and answer.json()["code"] == "IncorrectRequestBody"
    unknown = wb.post("wb_marketplace", "/api/v3/stocks/1", {"chrtIds": [1]})
    assert unknown.status_code == 404 and unknown.json() == {"code": "NotFound", "message": ""}
    too_many = wb.post("wb_marketplace", f"/api/v3/stocks/{warehouse}", {"chrtIds": list(range(1001))})
    assert too_many.status_code == 400


def test_removed_supplier_stocks_is_404_unless_legacy_switch(wb: Wb) -> None:
    assert (
        wb.get("wb_statistics", "/api/v1/supplier/stocks", params={"dateFrom": "2019-06-20"}).status_code
        == 404
    )
    wb.control("/settings", {"wb_legacy_supplier_stocks": True})
    wb.server.state.buckets.reset()
    answer = wb.get("wb_statistics", "/api/v1/supplier/stocks", params={"dateFrom": "2019-06-20"})
    assert answer.status_code == 200 and answer.json()[0]["quantityFull"] >= answer.json()[0]["quantity"]


# --- warehouse_remains task machine --------------------------------------------------------------


def test_remains_task_errors(wb: Wb) -> None:
    empty = wb.get("wb_analytics", "/api/v1/warehouse_remains", params={"groupByNm": ""})
    assert empty.status_code == 400
    assert 'parameter "groupByNm" in query has an error: empty value is not allowed' in empty.json()["detail"]
    bad = wb.get("wb_analytics", "/api/v1/warehouse_remains/tasks/not-a-uuid/status")
    assert bad.status_code == 400
    missing = wb.get(
        "wb_analytics", "/api/v1/warehouse_remains/tasks/219eaecf-e532-4bd8-9f15-8036ec1b042d/status"
    )
    assert missing.status_code == 404 and missing.json()["title"] == "Not Found"
    task = wb.get("wb_analytics", "/api/v1/warehouse_remains").json()["data"]["taskId"]
    early = wb.get("wb_analytics", f"/api/v1/warehouse_remains/tasks/{task}/download")
    assert early.status_code == 404


# --- orders ---------------------------------------------------------------------------------------


def test_supplier_orders_pages_by_last_change_date(wb: Wb, wb_seller: dict[str, Any]) -> None:
    wb.control("/settings", {"wb_orders_page_rows": 500})
    seen: dict[str, dict[str, Any]] = {}
    date_from, pages = "2019-06-20", 0
    while True:
        answer = wb.get("wb_statistics", "/api/v1/supplier/orders", params={"dateFrom": date_from})
        if answer.status_code == 429:
            time.sleep(float(answer.headers["X-Ratelimit-Retry"]))
            continue
        rows = answer.json()
        pages += 1
        new = [r for r in rows if r["srid"] not in seen]
        if not new:
            break
        assert len(rows) <= 500
        seen.update({r["srid"]: r for r in rows})
        date_from = rows[-1]["lastChangeDate"]
    expected = {o["id"]: o for o in wb_seller["orders"]}
    assert set(seen) == set(expected) and pages > 2
    assert {k for k, r in seen.items() if r["isCancel"]} == {k for k, o in expected.items() if o["cancelled"]}
    assert wb.get("wb_statistics", "/api/v1/supplier/orders").json() == {
        "errors": ["dateFrom: field required"]
    }


def test_order_feed_pages_with_a_sticky_snapshot(wb: Wb, wb_seller: dict[str, Any]) -> None:
    # The scenario's orders span its last 30 days; the feed looks back at most 31.
    start = (datetime.now(UTC) - timedelta(days=30, hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ")
    srids: list[str] = []
    offset, snapshot = 0, None
    while True:
        pagination: dict[str, Any] = {"offset": offset, "limit": 1000}
        if snapshot:
            pagination["snapshotTime"] = snapshot
        answer = wb.post(
            "wb_analytics",
            "/api/analytics/v1/order-feed",
            {"selectedPeriod": {"start": start}, "pagination": pagination},
        )
        if answer.status_code == 429:
            time.sleep(float(answer.headers["X-Ratelimit-Retry"]))
            continue
        data = answer.json()["data"]
        snapshot = data["snapshotTime"]
        srids += [o["srid"] for o in data["orders"]]
        if len(data["orders"]) < 1000:
            break
        offset += 1000
    assert len(srids) == len(set(srids)) > 1000
    assert set(srids) == {o["id"] for o in wb_seller["orders"]}
    too_old = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    wb.server.state.buckets.reset()
    refused = wb.post("wb_analytics", "/api/analytics/v1/order-feed", {"selectedPeriod": {"start": too_old}})
    assert refused.status_code == 400 and refused.json()["origin"] == "analytics-open-api"


# --- faults and the request log -------------------------------------------------------------------


def test_injected_faults_use_the_service_shapes_and_are_logged(wb: Wb) -> None:
    wb.control(
        "/faults",
        {"service": "wb_content", "endpoint": "/content/v2/get/cards/list", "kind": "429", "count": 1},
    )
    wb.control("/faults", {"service": "wb_analytics", "endpoint": "*", "kind": "503", "count": 1})
    limited = wb.post("wb_content", "/content/v2/get/cards/list", {"settings": {"cursor": {"limit": 10}}})
    assert limited.status_code == 429 and "X-Ratelimit-Retry" in limited.headers
    assert wb.get("wb_analytics", "/ping").status_code == 503
    assert wb.get("wb_analytics", "/ping").status_code == 200
    log = wb.control("/requests").json()
    assert [(e["service"], e["status"], e.get("fault")) for e in log[-3:]] == [
        ("wb_content", 429, "429"),
        ("wb_analytics", 503, "503"),
        ("wb_analytics", 200, None),
    ]
    bad = wb.server.control_url + "/faults"
    import requests

    assert requests.post(bad, json={"kind": "explode", "count": 1}, timeout=5).status_code == 400


def test_cards_cursor_paging_visits_every_card_once(wb: Wb, wb_seller: dict[str, Any]) -> None:
    cursor: dict[str, Any] = {"limit": 100}
    nm_ids: list[int] = []
    while True:
        answer = wb.post(
            "wb_content",
            "/content/v2/get/cards/list",
            {"settings": {"sort": {"ascending": True}, "cursor": cursor, "filter": {"withPhoto": -1}}},
        )
        if answer.status_code == 429:
            time.sleep(float(answer.headers["X-Ratelimit-Retry"]))
            continue
        page = answer.json()
        nm_ids += [c["nmID"] for c in page["cards"]]
        if page["cursor"]["total"] < 100:
            break
        cursor = {"limit": 100, "updatedAt": page["cursor"]["updatedAt"], "nmID": page["cursor"]["nmID"]}
    assert sorted(nm_ids) == sorted(p["nm_id"] for p in wb_seller["products"])
    assert len(nm_ids) == len(set(nm_ids))

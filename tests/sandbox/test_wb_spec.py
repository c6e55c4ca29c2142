"""Every WB sandbox answer for an endpoint in the official spec copies validates against that spec;
the 2026 endpoints (absent from the copies) validate against marketplace-api.md's field tables."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import requests

from tests.sandbox.conftest import Wb
from tests.sandbox.spec_check import spec, validate

CONTENT = "https://content-api.wildberries.ru"
ANALYTICS = "https://seller-analytics-api.wildberries.ru"
STATISTICS = "https://statistics-api.wildberries.ru"
MARKETPLACE = "https://marketplace-api.wildberries.ru"
COMMON = "https://common-api.wildberries.ru"


def _retrying(call: Any) -> requests.Response:
    for _ in range(50):
        answer = call()
        if answer.status_code != 429:
            return answer
        time.sleep(float(answer.headers["X-Ratelimit-Retry"]))
    raise AssertionError("still rate limited")


def test_ping_matches_spec(wb: Wb) -> None:
    validate(spec("wb/01-general.yaml"), f"{COMMON}/ping", wb.get("wb_common", "/ping"))
    unauthorized = wb.get("wb_common", "/ping", headers={"Authorization": "bad"})
    assert unauthorized.status_code == 401
    validate(spec("wb/01-general.yaml"), f"{COMMON}/ping", unauthorized)


def test_content_and_marketplace_match_spec(wb: Wb, wb_seller: dict[str, Any]) -> None:
    products = spec("wb/02-products.yaml")
    cards = wb.post(
        "wb_content",
        "/content/v2/get/cards/list",
        {"settings": {"sort": {"ascending": True}, "cursor": {"limit": 100}, "filter": {"withPhoto": -1}}},
    )
    assert cards.status_code == 200 and cards.json()["cards"]
    validate(products, f"{CONTENT}/content/v2/get/cards/list", cards)

    warehouses = wb.get("wb_marketplace", "/api/v3/warehouses")
    assert warehouses.status_code == 200 and warehouses.json()
    validate(products, f"{MARKETPLACE}/api/v3/warehouses", warehouses)

    warehouse_id = warehouses.json()[0]["id"]
    chrt_ids = [s["chrt_id"] for p in wb_seller["products"] for s in p["sizes"]][:1000]
    stocks = wb.post("wb_marketplace", f"/api/v3/stocks/{warehouse_id}", {"chrtIds": chrt_ids})
    assert stocks.status_code == 200 and stocks.json()["stocks"]
    validate(products, f"{MARKETPLACE}/api/v3/stocks/{warehouse_id}", stocks)

    missing = wb.post("wb_marketplace", "/api/v3/stocks/1", {"chrtIds": chrt_ids[:1]})
    assert missing.status_code == 404
    validate(products, f"{MARKETPLACE}/api/v3/stocks/1", missing)


def test_reports_and_statistics_match_spec(wb: Wb) -> None:
    reports = spec("wb/12-reports.yaml")
    created = wb.get(
        "wb_analytics",
        "/api/v1/warehouse_remains",
        params={
            "groupByNm": "true",
            "groupBySize": "true",
            "groupByBarcode": "true",
            "groupBySa": "true",
            "groupByBrand": "true",
            "groupBySubject": "true",
        },
    )
    validate(reports, f"{ANALYTICS}/api/v1/warehouse_remains", created)
    task = created.json()["data"]["taskId"]
    status_url = f"/api/v1/warehouse_remains/tasks/{task}/status"
    while True:
        status = _retrying(lambda: wb.get("wb_analytics", status_url))
        validate(reports, ANALYTICS + status_url, status)
        if status.json()["data"]["status"] == "done":
            break
        time.sleep(0.01)
    download_url = f"/api/v1/warehouse_remains/tasks/{task}/download"
    download = _retrying(lambda: wb.get("wb_analytics", download_url))
    assert download.status_code == 200 and download.json()
    validate(reports, ANALYTICS + download_url, download)

    bad_task = wb.get("wb_analytics", "/api/v1/warehouse_remains/tasks/abc/status")
    assert bad_task.status_code == 400
    validate(reports, f"{ANALYTICS}/api/v1/warehouse_remains/tasks/abc/status", bad_task)

    orders = wb.get("wb_statistics", "/api/v1/supplier/orders", params={"dateFrom": "2019-06-20"})
    assert orders.status_code == 200 and orders.json()
    validate(reports, f"{STATISTICS}/api/v1/supplier/orders?dateFrom=2019-06-20", orders)
    no_date = _retrying(lambda: wb.get("wb_statistics", "/api/v1/supplier/orders"))
    assert no_date.status_code == 400
    validate(reports, f"{STATISTICS}/api/v1/supplier/orders", no_date)

    wb.control("/settings", {"wb_legacy_supplier_stocks": True})
    legacy = wb.get("wb_statistics", "/api/v1/supplier/stocks", params={"dateFrom": "2019-06-20"})
    assert legacy.status_code == 200 and legacy.json()
    validate(reports, f"{STATISTICS}/api/v1/supplier/stocks?dateFrom=2019-06-20", legacy)


# Field tables of marketplace-api.md §2.4, §2.5 and §2.11 (2026 endpoints), as JSON Schema.
_INT = {"type": "integer"}
_UINT = {"type": "integer", "minimum": 0}
_STR = {"type": "string"}
_DATETIME = {"type": "string", "format": "date-time"}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties)}


WB_WAREHOUSES_2026 = _object(
    {
        "data": _object(
            {
                "items": {
                    "type": "array",
                    "items": _object(
                        {
                            "nmId": _INT,
                            "chrtId": _INT,
                            "warehouseId": _INT,
                            "warehouseName": _STR,
                            "regionName": _STR,
                            "quantity": _UINT,
                            "inWayToClient": _UINT,
                            "inWayFromClient": _UINT,
                        }
                    ),
                }
            }
        )
    }
)
SELLER_WAREHOUSES_2026 = _object(
    {
        "data": _object(
            {
                "items": {
                    "type": "array",
                    "items": _object(
                        {
                            "chrtId": _INT,
                            "nmId": _INT,
                            "quantity": _UINT,
                            "regionName": _STR,
                            "warehouseId": _INT,
                            "warehouseName": _STR,
                        }
                    ),
                }
            }
        )
    }
)
ORDER_FEED_2026 = _object(
    {
        "data": _object(
            {
                "snapshotTime": _DATETIME,
                "currency": _STR,
                "orders": {
                    "type": "array",
                    "items": _object(
                        {
                            "nmId": _INT,
                            "chrtId": _INT,
                            "srid": _STR,
                            "createdAt": _DATETIME,
                            "updatedAt": _DATETIME,
                            "status": {"enum": ["created", "buyout", "cancel", "return", "returnDefective"]},
                            "cancelType": {"enum": ["app", "receipt", "expire", "other"]},
                            "warehouseName": _STR,
                            "warehouseRegion": _STR,
                            "isMp": {"type": "boolean"},
                            "destinationCity": _STR,
                            "destinationDistrict": _STR,
                            "sellerPrice": {"type": "number"},
                            "isB2b": {"type": "boolean"},
                        },
                        required=[
                            "nmId",
                            "chrtId",
                            "srid",
                            "createdAt",
                            "updatedAt",
                            "status",
                            "warehouseName",
                            "isMp",
                            "sellerPrice",
                        ],
                    ),
                },
            }
        )
    }
)
ANALYTICS_ERROR = _object({"title": _STR, "detail": _STR, "requestId": _STR, "origin": _STR})


@pytest.mark.parametrize("mode", ["detailed", "aggregated"])
def test_2026_endpoints_match_the_field_tables(wb: Wb, mode: str) -> None:
    wb.control("/settings", {"wb_warehouse_mode": mode})
    checker = jsonschema.Draft202012Validator
    fmt = jsonschema.FormatChecker()
    wb_items = wb.post("wb_analytics", "/api/analytics/v1/stocks-report/wb-warehouses")
    checker(WB_WAREHOUSES_2026, format_checker=fmt).validate(wb_items.json())
    seller_items = wb.post("wb_analytics", "/api/analytics/v1/stocks-report/seller-warehouses")
    checker(SELLER_WAREHOUSES_2026, format_checker=fmt).validate(seller_items.json())
    start = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    feed = wb.post(
        "wb_analytics",
        "/api/analytics/v1/order-feed",
        {"selectedPeriod": {"start": start}, "pagination": {"limit": 200}},
    )
    assert feed.json()["data"]["orders"]
    checker(ORDER_FEED_2026, format_checker=fmt).validate(feed.json())
    wb.server.state.buckets.reset()
    bad = wb.post("wb_analytics", "/api/analytics/v1/stocks-report/wb-warehouses", {"limit": 0})
    assert bad.status_code == 400
    checker(ANALYTICS_ERROR).validate(bad.json())

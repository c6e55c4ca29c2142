"""The seller's own (FBS) warehouses and their stock (§4.6, §4.9) — 2026 methods absent from the
2025 spec copy, built from the doc's field tables.

`present` = the scenario's `available` + `reserved` (as in /v4), `free_stock` = present − reserved =
`available`: Ozon's "free to sell" is what is on the shelf minus what buyers already hold.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from sandbox.http import json_response
from sandbox.ozon import fields
from sandbox.ozon.errors import BadRequest, NotFound
from sandbox.ozon.gateway import Body, endpoint
from sandbox.ozon.model import OzonAccount, StockCell, iso, stable_int

WORKING_DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]


def _stock_row(account: OzonAccount, cell: StockCell) -> dict[str, Any]:
    product = account.by_sku[cell.sku]
    return {
        "sku": cell.sku,
        "offer_id": product["offer_id"],
        "product_id": product["product_id"],
        "warehouse_id": cell.warehouse_id,
        "present": cell.present,
        "reserved": cell.reserved,
        "free_stock": cell.available,
    }


@endpoint()
async def warehouse_list(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    """`/v2/warehouse/list`: FBS/rFBS warehouses, cursor-paged by id (FBO ones have their own method)."""
    # The maximum `limit` is undocumented (§8); the sandbox takes up to 1000.
    limit = fields.integer(body, "limit", low=1, high=1000)
    after = fields.read_cursor(body, "cursor")
    wanted = set(fields.id_list(body, "warehouse_ids"))
    rest = [
        w
        for w in account.warehouses_of("fbs")
        if (after is None or w["id"] > after) and (not wanted or w["id"] in wanted)
    ]
    page = rest[:limit]
    warehouses = []
    for w in page:
        created = account.now - timedelta(days=200 + stable_int(f"wh:{w['id']}", 500))
        warehouses.append(
            {
                "warehouse_id": w["id"],
                "name": w["name"],
                "status": "created",
                # The value set of `warehouse_type` is not in the material read; "FBS" is the sandbox's.
                "warehouse_type": "FBS",
                "is_rfbs": False,
                "is_kgt": False,
                "is_express": False,
                "is_auto_assembly": False,
                "is_waybill_enabled": False,
                "with_item_list": False,
                "has_entrusted_acceptance": False,
                "has_postings_limit": False,
                "min_postings_limit": 0,
                "postings_limit": -1,
                "address_info": {
                    "address": w.get("cluster") or "",
                    "latitude": 0.0,
                    "longitude": 0.0,
                    "utc": "+03:00",
                },
                "first_mile": {
                    "dropoff_point_id": "",
                    "first_mile_is_changing": False,
                    "timeslot_from": "",
                    "timeslot_id": 0,
                    "timeslot_to": "",
                    "type": "DROP_OFF",
                },
                "working_days": WORKING_DAYS,
                "courier_phones": [],
                "courier_comment": "",
                "phone": "",
                "created_at": iso(created),
                "updated_at": iso(created + timedelta(days=30)),
            }
        )
    more = len(rest) > limit
    cursor = fields.make_cursor(page[-1]["id"]) if more else ""
    return json_response({"warehouses": warehouses, "cursor": cursor, "has_next": more})


@endpoint()
async def warehouse_stocks(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    """`/v1/product/info/warehouse/stocks`: all stock of one FBS warehouse, cursor-paged by SKU."""
    warehouse_id = fields.integer(body, "warehouse_id", low=1)
    limit = fields.integer(body, "limit", low=1, high=1000)
    after = fields.read_cursor(body, "cursor")
    if warehouse_id not in {w["id"] for w in account.warehouses_of("fbs")}:
        raise NotFound("warehouse not found")
    rest = [
        c
        for c in account.cells_of("fbs")
        if c.warehouse_id == warehouse_id and (after is None or c.sku > after)
    ]
    page = rest[:limit]
    # Stock changes as orders are packed; a stable "last changed" a little before load time.
    stocks = [
        {
            **_stock_row(account, c),
            "updated_at": iso(account.now - timedelta(minutes=stable_int(str(c.sku), 600))),
        }
        for c in page
    ]
    more = len(rest) > limit
    return json_response(
        {
            "cursor": fields.make_cursor(page[-1].sku) if more else "",
            "has_next": more,
            "stocks": stocks,
        }
    )


@endpoint()
async def stocks_by_warehouse(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    """`/v2/product/info/stocks-by-warehouse/fbs`: FBS stock of given SKUs (or offer ids) per warehouse."""
    # Max ids per call is undocumented (§8); SDKs send 500, the sandbox takes up to 1000.
    skus = set(fields.id_list(body, "sku"))
    offer_ids = set(fields.str_list(body, "offer_id"))
    if not skus and not offer_ids:
        raise BadRequest("sku: value is required (or offer_id)")
    if not skus:  # sku wins when both are given (doc)
        skus = {p["sku"] for p in account.products if p["offer_id"] in offer_ids}
    limit = fields.integer(body, "limit", low=1, high=1000)
    start = fields.read_cursor(body, "cursor") or 0
    if start < 0:
        raise BadRequest("cursor: invalid value")
    rows = [c for c in account.cells_of("fbs") if c.sku in skus]
    page = rows[start : start + limit]
    products = [
        {**_stock_row(account, c), "warehouse_name": account.warehouses[c.warehouse_id]["name"]} for c in page
    ]
    more = start + limit < len(rows)
    return json_response(
        {
            "cursor": fields.make_cursor(start + limit) if more else "",
            "has_next": more,
            "products": products,
        }
    )

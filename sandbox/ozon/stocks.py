"""Stock by scheme and FBO stock by warehouse (§4.1, §4.2, §4.4, §4.5).

Quantities map from the scenario the same way everywhere, so the methods agree with each other
(DESIGN §6: the scenario's `available` is the units available to sell): `free_to_sell_amount` /
`available_stock_count` / `valid_stock_count` = `available`, `reserved` / `reserved_amount` =
`reserved`, `present` (on the shelf, reservations included) = `available` + `reserved`,
`transit_stock_count` («в поставках в пути») / `promised_amount` («в подтверждённых будущих
поставках») = `in_supply` (units in supplies on their way to the warehouse),
`return_from_customer_stock_count` = `in_way_from_client`, `requested_stock_count` = `requested`
(units in supply requests). A scenario's `in_way_to_client` (orders on their way to buyers) is served
by no FBO stock method, as on Ozon: adding it to `transit_stock_count` made the supply plan count
orders leaving a warehouse as a supply arriving there.
`ads` / `ads_cluster` are the units sold from Ozon warehouses (all / the item's cluster) over the
28 days before now ÷ 28, from the scenario's orders; `idc*` = available ÷ `ads*`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.http import json_response
from sandbox.ozon import errors, fields, metrics
from sandbox.ozon import limits as L
from sandbox.ozon.catalog import select_products
from sandbox.ozon.errors import BadRequest
from sandbox.ozon.gateway import Body, endpoint, sandbox_state
from sandbox.ozon.model import OzonAccount, StockCell

BROKEN_BY = 7  # units a broken identity is off by (sandbox switch `broken_identities`)
ADS_DAYS = 28  # /v1/analytics/stocks averages sales over 28 days
TURNOVER_ADS_DAYS = 60  # /v1/analytics/turnover/stocks over 60
WAREHOUSE_TYPES = frozenset({"ALL", "EXPRESS_DARK_STORE", "NOT_EXPRESS_DARK_STORE"})
ZERO_COUNTS = (
    "return_to_seller_stock_count",
    "other_stock_count",
    "excess_stock_count",
    "expiring_stock_count",
    "stock_defect_stock_count",
    "transit_defect_stock_count",
    "waiting_docs_stock_count",
    "waiting_docs_to_export_stock_count",
    # Added 2026-09-11; the doc shows no types, counts are integers like their neighbours.
    "inbound_replenishment",
    "outbound_pending_delivery",
    "outbound_returns_picking",
    "outbound_returns_ready_to_ship",
    "outbound_returns_return_to_seller",
    "stock_not_being_sold",
)


@endpoint()
async def product_stocks(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    """`/v4/product/info/stocks`: present/reserved per scheme, cursor-paged by product."""
    matching = select_products(account, fields.section(body, "filter", required=True))
    limit = fields.integer(body, "limit", low=1, high=1000)
    after = fields.read_cursor(body, "cursor")
    rest = [p for p in matching if after is None or p["product_id"] > after]
    page = rest[:limit]
    # The supply guard's identity (clusters sum to these totals) broken on purpose: the first
    # product's FBO total drifts from its warehouses.
    broken = "ozon_clusters_vs_totals" in sandbox_state(request).switches.broken_identities
    items = []
    for product in page:
        stocks = []
        for scheme in ("fbo", "fbs"):
            present, reserved, warehouse_ids = account.scheme_stock(product["sku"], scheme)
            if broken and scheme == "fbo" and product is account.products[0]:
                present += BROKEN_BY
            stocks.append(
                {
                    "type": scheme,
                    "sku": product["sku"],
                    "present": present,
                    "reserved": reserved,
                    "shipment_type": "SHIPMENT_TYPE_GENERAL",
                    # string(int64) in the official spec; some SDKs read numbers, both parse.
                    "warehouse_ids": [str(w) for w in warehouse_ids],
                }
            )
        items.append({"offer_id": product["offer_id"], "product_id": product["product_id"], "stocks": stocks})
    # `total` was removed on 2026-11-23 (§4.5); the cursor is empty once nothing is left.
    return json_response(
        {
            "cursor": fields.make_cursor(page[-1]["product_id"]) if len(rest) > limit else "",
            "total_items": len(matching),
            "items": items,
        }
    )


def _analytics_item(account: OzonAccount, cell: StockCell, now: datetime) -> dict[str, Any]:
    product = account.by_sku[cell.sku]
    warehouse = account.warehouses[cell.warehouse_id]
    cluster_id, cluster_name = account.cluster(warehouse)
    fbo = account.cells_of("fbo", cell.sku)
    in_cluster = {
        c.warehouse_id for c in fbo if account.cluster(account.warehouses[c.warehouse_id])[0] == cluster_id
    }
    available = sum(c.available for c in fbo)
    cluster_available = sum(c.available for c in fbo if c.warehouse_id in in_cluster)
    daily = account.fbo_units(cell.sku, ADS_DAYS, now) / ADS_DAYS
    cluster_daily = account.fbo_units(cell.sku, ADS_DAYS, now, in_cluster) / ADS_DAYS
    return {
        "sku": cell.sku,
        "offer_id": product["offer_id"],
        "name": product["name"],
        "warehouse_id": cell.warehouse_id,
        "warehouse_name": warehouse["name"],
        "cluster_id": cluster_id,
        "cluster_name": cluster_name,
        "macrolocal_cluster_id": cluster_id,
        "available_stock_count": cell.available,
        "valid_stock_count": cell.available,
        "transit_stock_count": cell.in_supply,
        "requested_stock_count": cell.requested,
        "return_from_customer_stock_count": cell.from_client,
        **dict.fromkeys(ZERO_COUNTS, 0),
        "ads": round(daily, 2),
        "ads_cluster": round(cluster_daily, 2),
        "idc": metrics.days_of_cover(available, daily),
        "idc_cluster": metrics.days_of_cover(cluster_available, cluster_daily),
        "days_without_sales": account.days_without_sales(cell.sku, now, ADS_DAYS),
        "days_without_sales_cluster": account.days_without_sales(cell.sku, now, ADS_DAYS, in_cluster),
        "turnover_grade": metrics.liquidity_grade(available, daily),
        "turnover_grade_cluster": metrics.liquidity_grade(cluster_available, cluster_daily),
        "item_tags": [],
        "placement_zone": [],
    }


@endpoint(L.ANALYTICS_STOCKS)
async def analytics_stocks(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    """`/v1/analytics/stocks`: one item per SKU × Ozon warehouse holding it."""
    skus = fields.id_list(body, "skus", max_items=100)
    if not skus:
        raise BadRequest("skus: value is required")
    warehouse_ids = set(fields.id_list(body, "warehouse_ids"))
    cluster_ids = set(fields.id_list(body, "cluster_ids"))
    grades = set(fields.str_list(body, "turnover_grades"))
    now = datetime.now(UTC)
    items = []
    for sku in dict.fromkeys(skus):
        for cell in account.cells_of("fbo", sku):
            if warehouse_ids and cell.warehouse_id not in warehouse_ids:
                continue
            if cluster_ids and account.cluster(account.warehouses[cell.warehouse_id])[0] not in cluster_ids:
                continue
            item = _analytics_item(account, cell, now)
            if not grades or item["turnover_grade"] in grades:
                items.append(item)
    return json_response({"items": items})


@endpoint()
async def _stock_on_warehouses(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    limit = fields.integer(body, "limit", low=1, high=1000)
    offset = fields.integer(body, "offset", low=0, default=0)
    # The sandbox has no express dark stores: asking for them alone finds nothing.
    if fields.choice(body, "warehouse_type", WAREHOUSE_TYPES, "ALL") == "EXPRESS_DARK_STORE":
        return json_response({"result": {"rows": []}})
    rows = []
    for cell in account.cells_of("fbo")[offset : offset + limit]:
        product = account.by_sku[cell.sku]
        rows.append(
            {
                "sku": cell.sku,
                "item_code": product["offer_id"],
                "item_name": product["name"],
                "free_to_sell_amount": cell.available,
                "promised_amount": cell.in_supply,
                "reserved_amount": cell.reserved,
                "warehouse_name": account.warehouses[cell.warehouse_id]["name"],
            }
        )
    return json_response({"result": {"rows": rows}})


async def stock_on_warehouses(request: web.Request) -> web.Response:
    """`/v2/analytics/stock_on_warehouses`, or the 404 of a removed method once switched off."""
    # Ozon says this method "will be switched off" (§4.1); the switch simulates that day.
    if not sandbox_state(request).switches.ozon_stock_on_warehouses:
        return errors.not_found()
    return await _stock_on_warehouses(request)


@endpoint(L.TURNOVER)
async def turnover(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    """`/v1/analytics/turnover/stocks`: FBO stock, 60-day sales speed and days of cover per SKU."""
    skus = fields.id_list(body, "sku")
    # With `sku` given, limit and offset are optional (method description, S5).
    limit = fields.integer(body, "limit", low=1, high=1000, default=1000 if skus else None)
    offset = fields.integer(body, "offset", low=0, default=0)
    products = (
        [account.by_sku[s] for s in dict.fromkeys(skus) if s in account.by_sku] if skus else account.products
    )
    now = datetime.now(UTC)
    items = []
    for product in products[offset : offset + limit]:
        sku = product["sku"]
        stock = account.available(sku, "fbo")
        daily = account.fbo_units(sku, TURNOVER_ADS_DAYS, now) / TURNOVER_ADS_DAYS
        # Turnover is average stock over sales speed; the scenario keeps no stock history, so the
        # current stock stands in for the average and turnover equals days of cover.
        cover = metrics.days_of_cover(stock, daily)
        items.append(
            {
                "sku": sku,
                "offer_id": product["offer_id"],
                "name": product["name"],
                "current_stock": stock,
                "ads": round(daily, 2),
                "idc": cover,
                "idc_grade": metrics.cover_grade(stock, daily),
                "turnover": cover,
                "turnover_grade": metrics.turnover_grade(stock, daily),
            }
        )
    return json_response({"items": items})


CLUSTER_TYPES = frozenset({"CLUSTER_TYPE_OZON", "CLUSTER_TYPE_CIS"})


@endpoint()
async def cluster_list(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    """`/v1/cluster/list`: the clusters of the seller's Ozon warehouses, each with its warehouses.

    `cluster_type` is required (spec); no paging (Ozon has a few dozen clusters). The sandbox's
    clusters are all in Russia: asking for `CLUSTER_TYPE_CIS` finds none.
    """
    if "cluster_type" not in body:
        raise BadRequest("cluster_type: value is required")
    cluster_type = fields.choice(body, "cluster_type", CLUSTER_TYPES, "CLUSTER_TYPE_OZON")
    wanted = set(fields.id_list(body, "cluster_ids"))
    clusters = []
    if cluster_type == "CLUSTER_TYPE_OZON":
        for cluster_id, (name, warehouses) in sorted(account.clusters().items()):
            if wanted and cluster_id not in wanted:
                continue
            clusters.append(
                {
                    "id": cluster_id,
                    "name": name,
                    "type": cluster_type,
                    "logistic_clusters": [
                        {
                            "warehouses": [
                                {"warehouse_id": w["id"], "name": w["name"], "type": "FULL_FILLMENT"}
                                for w in warehouses
                            ]
                        }
                    ],
                }
            )
    return json_response({"clusters": clusters})

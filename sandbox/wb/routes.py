"""Wildberries seller API endpoints used by Stock Tracker (marketplace-api.md §2), on one port.

Each handler is wrapped by `endpoint(...)`, which does what WB's gateway does before a method
runs: read the token, check its category against the host, draw from the seller's bucket for the
method group, and stamp `X-Ratelimit-Remaining` on the answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from aiohttp import web

from sandbox.http import json_response, read_json
from sandbox.services import Service
from sandbox.state import SandboxState
from sandbox.wb import errors
from sandbox.wb import limits as L
from sandbox.wb.model import MSK, PSEUDO_TOTAL, WarehouseMode, WbAccount
from sandbox.wb.tokens import TokenClaims, TokenError, read_token

Handler = Callable[[web.Request, WbAccount], Awaitable[web.Response]]

# Host prefix -> token category it needs (common-api accepts any valid token).
CATEGORY_OF = {
    "wb_content": "content",
    "wb_analytics": "analytics",
    "wb_statistics": "statistics",
    "wb_marketplace": "marketplace",
    "wb_common": None,
}
REPORT_TTL_SECONDS = 3600.0  # undocumented; tasks are purged after an hour here
ORDER_FEED_MAX_LIMIT = 1000  # undocumented by WB; the sandbox refuses more
ORDER_FEED_LOOKBACK = timedelta(days=31)


def _state(request: web.Request) -> SandboxState:
    from sandbox.server import STATE_KEY

    return request.app[STATE_KEY]


def _service(request: web.Request) -> Service:
    from sandbox.server import SERVICE_KEY

    return request[SERVICE_KEY]


CLAIMS_KEY = web.RequestKey("wb_claims", TokenClaims)


def _authenticate(request: web.Request) -> WbAccount | web.Response:
    service = _service(request)
    header = request.headers.get("Authorization", "").strip()
    token = header[7:].strip() if header.lower().startswith("bearer ") else header
    if not token:
        return errors.unauthorized("empty Authorization header")
    try:
        claims = read_token(token)
    except TokenError as exc:
        return errors.unauthorized(str(exc))
    account = _state(request).wb_accounts.get(token)
    if account is None:
        return errors.unauthorized("token problem; token is not valid: signature is invalid")
    if claims.expires_at is not None and claims.expires_at < time.time():
        return errors.unauthorized("token problem; token is expired")
    needed = CATEGORY_OF[service.key]
    if claims.test or (needed is not None and needed not in claims.categories):
        return errors.unauthorized("token scope not allowed")
    if claims.read_only and request.method in ("PUT", "PATCH", "DELETE"):
        return errors.unauthorized("token scope not allowed: read-only token")
    request[CLAIMS_KEY] = claims  # the presented token decides type-dependent limits and access
    return account


def endpoint(group: L.MethodGroup) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.Response]]]:
    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        @wraps(handler)
        async def run(request: web.Request) -> web.Response:
            account = _authenticate(request)
            if isinstance(account, web.Response):
                return account
            state = _state(request)
            limit = group.limit_for(request[CLAIMS_KEY].token_type)
            # Buckets are per seller account; ping is limited per host variant.
            group_key = f"{group.name}:{_service(request).key}" if group is L.PING else group.name
            decision = state.buckets.take(account.seller["name"], group_key, limit)
            if not decision.allowed:
                return errors.too_many_requests(
                    decision.retry_after, limit.burst, decision.reset_after, state.switches.time_scale
                )
            response = await handler(request, account)
            remaining = decision.remaining
            if group.penalize_4xx and 400 <= response.status < 500:
                state.buckets.charge(account.seller["name"], group_key, limit, 9)
                remaining = max(0, remaining - 9)
            response.headers["X-Ratelimit-Remaining"] = str(remaining)
            return response

        return run

    return wrap


def _mode(request: web.Request, account: WbAccount) -> WarehouseMode:
    return _state(request).wb_warehouse_mode(account)


# --- common -----------------------------------------------------------------------------------


@endpoint(L.PING)
async def ping(request: web.Request, account: WbAccount) -> web.Response:
    return json_response({"TS": datetime.now(MSK).isoformat(timespec="seconds"), "Status": "OK"})


# --- content ----------------------------------------------------------------------------------


@endpoint(L.CARDS_LIST)
async def cards_list(request: web.Request, account: WbAccount) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        return web.Response(status=400, text="Request body can not be decoded", content_type="text/plain")
    settings = body.get("settings") or {}
    cursor = settings.get("cursor") or {}
    limit = cursor.get("limit", 10)
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        return errors.content(400, "Invalid cursor limit: must be from 1 to 100")
    ascending = bool((settings.get("sort") or {}).get("ascending", False))
    text = str((settings.get("filter") or {}).get("textSearch") or "").strip()
    cards = account.cards if ascending else account.cards[::-1]
    if text:
        cards = [
            c
            for c in cards
            if text in (c["vendorCode"], str(c["nmID"])) or any(text in s["skus"] for s in c["sizes"])
        ]
    after = (cursor.get("updatedAt"), cursor.get("nmID"))
    if after[0] and after[1]:
        key = (str(after[0]), int(after[1]))
        cards = [
            c
            for c in cards
            if ((c["updatedAt"], c["nmID"]) > key) == ascending and (c["updatedAt"], c["nmID"]) != key
        ]
    page = cards[:limit]
    last = page[-1] if page else None
    return json_response(
        {
            "cards": page,
            "cursor": {
                "updatedAt": last["updatedAt"] if last else "",
                "nmID": last["nmID"] if last else 0,
                "total": len(page),
            },
        }
    )


# --- analytics: stock reports -----------------------------------------------------------------


def _report_filters(body: Any) -> tuple[set[int] | None, set[int] | None, int, int] | web.Response:
    if not isinstance(body, dict):
        return errors.analytics(400, "Bad Request", "request body has an error: invalid JSON")
    nm_ids, chrt_ids = body.get("nmIds") or [], body.get("chrtIds") or []
    limit, offset = body.get("limit", 250_000), body.get("offset", 0)
    if not isinstance(nm_ids, list) or len(nm_ids) > 1000:
        return errors.analytics(400, "Bad Request", "nmIds: must contain at most 1000 items")
    if not isinstance(limit, int) or not 0 < limit <= 250_000:
        return errors.analytics(400, "Bad Request", "limit: must be from 1 to 250000")
    if not isinstance(offset, int) or offset < 0:
        return errors.analytics(400, "Bad Request", "offset: must be a non-negative integer")
    return (set(nm_ids) or None, set(chrt_ids) or None, limit, offset)


def _refuse_base_token(request: web.Request) -> web.Response | None:
    # WB serves these reports to Personal/Service tokens only; Base tokens get 403.
    if request[CLAIMS_KEY].token_type == 1:
        return errors.analytics(403, "Forbidden", "token type is not allowed for this method")
    return None


@endpoint(L.STOCKS_REPORT_WB)
async def stocks_report_wb(request: web.Request, account: WbAccount) -> web.Response:
    refused = _refuse_base_token(request)
    if refused:
        return refused
    filters = _report_filters(await read_json(request))
    if isinstance(filters, web.Response):
        return filters
    nm_ids, chrt_ids, limit, offset = filters
    items = account.wb_warehouse_items(_mode(request, account), nm_ids, chrt_ids)
    if not items:
        return web.Response(status=204)
    if "wb_report_vs_remains" in _state(request).switches.broken_identities:
        items[0] = {**items[0], "quantity": items[0]["quantity"] + BROKEN_BY}
    return json_response({"data": {"items": items[offset : offset + limit]}})


@endpoint(L.STOCKS_REPORT_SELLER)
async def stocks_report_seller(request: web.Request, account: WbAccount) -> web.Response:
    refused = _refuse_base_token(request)
    if refused:
        return refused
    filters = _report_filters(await read_json(request))
    if isinstance(filters, web.Response):
        return filters
    nm_ids, chrt_ids, limit, offset = filters
    items = account.seller_warehouse_items(nm_ids, chrt_ids)
    if not items:
        return web.Response(status=204)
    return json_response({"data": {"items": items[offset : offset + limit]}})


# --- analytics: warehouse_remains (async report) ----------------------------------------------

BROKEN_BY = 7  # units a broken identity is off by (sandbox switch `broken_identities`)
REMAINS_FLAGS = ("groupByBrand", "groupBySubject", "groupBySa", "groupByNm", "groupByBarcode", "groupBySize")


def _tasks(request: web.Request) -> dict[str, dict[str, Any]]:
    return _state(request).extras.setdefault("wb_remains_tasks", {})


def _task_status(request: web.Request, task: dict[str, Any]) -> str:
    switches = _state(request).switches
    age = (time.monotonic() - task["created"]) * switches.time_scale
    if age >= REPORT_TTL_SECONDS:
        return "purged"
    if age < switches.wb_report_new_seconds:
        return "new"
    if age < switches.wb_report_new_seconds + switches.wb_report_processing_seconds:
        return "processing"
    return "done"


@endpoint(L.REMAINS_CREATE)
async def remains_create(request: web.Request, account: WbAccount) -> web.Response:
    group: dict[str, bool] = {}
    for flag in REMAINS_FLAGS:
        if flag not in request.query:
            continue
        value = request.query[flag]
        if value == "":
            return errors.analytics(
                400,
                "Bad Request",
                f'parameter "{flag}" in query has an error: empty value is not allowed',
                origin="api-statistics",
            )
        if value not in ("true", "false"):
            return errors.analytics(
                400,
                "Bad Request",
                f'parameter "{flag}" in query has an error: value {value}: invalid syntax',
                origin="api-statistics",
            )
        group[flag] = value == "true"
    task_id = str(uuid.uuid4())
    _tasks(request)[task_id] = {
        "seller": account.seller["name"],
        "created": time.monotonic(),
        "group": group,
        "mode": _mode(request, account),
    }
    return json_response({"data": {"taskId": task_id}})


def _find_task(request: web.Request, account: WbAccount) -> dict[str, Any] | web.Response:
    raw = request.match_info["task_id"]
    try:
        uuid.UUID(raw)
    except ValueError:
        return errors.analytics(
            400,
            "Bad Request",
            f"Invalid format for parameter task_id: error unmarshaling '{raw}' text as "
            f"*uuid.UUID: invalid UUID length: {len(raw)}",
            origin="api-statistics",
        )
    task = _tasks(request).get(raw)
    if task is None or task["seller"] != account.seller["name"]:
        return errors.analytics(
            404, "Not Found", "not found", origin="api-statistics", content_type=errors.PROBLEM
        )
    task["id"] = raw
    return task


@endpoint(L.REMAINS_STATUS)
async def remains_status(request: web.Request, account: WbAccount) -> web.Response:
    task = _find_task(request, account)
    if isinstance(task, web.Response):
        return task
    return json_response({"data": {"id": task["id"], "status": _task_status(request, task)}})


@endpoint(L.REMAINS_DOWNLOAD)
async def remains_download(request: web.Request, account: WbAccount) -> web.Response:
    task = _find_task(request, account)
    if isinstance(task, web.Response):
        return task
    if _task_status(request, task) != "done":
        return errors.analytics(
            404, "Not Found", "not found", origin="api-statistics", content_type=errors.PROBLEM
        )
    rows = account.remains_rows(task["mode"], task["group"])
    if not rows:
        return web.Response(status=204, text="Нет данных")
    if "wb_remains_total" in _state(request).switches.broken_identities:
        _break_remains_total(rows)
    return json_response(rows)


def _break_remains_total(rows: list[dict[str, Any]]) -> None:
    """WB's own total stops matching its warehouses, as when it re-labels part of its stock. The
    first row that has a total drifts; WB lists only non-zero lines, so an out-of-stock first row has
    none (breaking rows[0] alone then broke nothing). With no stock anywhere, a total appears."""
    for row in rows:
        lines = row["warehouses"]
        if any(w["warehouseName"] == PSEUDO_TOTAL for w in lines):
            row["warehouses"] = [
                {**w, "quantity": w["quantity"] + BROKEN_BY} if w["warehouseName"] == PSEUDO_TOTAL else w
                for w in lines
            ]
            return
    rows[0]["warehouses"] = [*rows[0]["warehouses"], {"warehouseName": PSEUDO_TOTAL, "quantity": BROKEN_BY}]


# --- statistics: orders (and the removed stocks) ----------------------------------------------


def _parse_date_from(raw: str | None) -> datetime | web.Response:
    if not raw:
        return errors.statistics(400, ["dateFrom: field required"])
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return errors.statistics(400, "dateFrom: Value not validated")
    # WB reads a date without an offset as Moscow time.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=MSK)


def _msk(moment: datetime) -> str:
    return moment.astimezone(MSK).strftime("%Y-%m-%dT%H:%M:%S")


@endpoint(L.SUPPLIER_ORDERS)
async def supplier_orders(request: web.Request, account: WbAccount) -> web.Response:
    date_from = _parse_date_from(request.query.get("dateFrom"))
    if isinstance(date_from, web.Response):
        return date_from
    flag = request.query.get("flag", "0")
    if flag not in ("0", "1"):
        return errors.statistics(400, "flag: Value not validated")
    retention = account.now - timedelta(days=90)
    mode = _mode(request, account)
    page_rows = _state(request).switches.wb_orders_page_rows
    if flag == "1":
        day = date_from.astimezone(MSK).date()
        picked = [o for o in account.orders if o.at.astimezone(MSK).date() == day and o.at >= retention]
    else:
        picked = []
        for order in account.orders:  # sorted by last change; `>=` repeats the boundary row
            if order.last_change >= date_from and order.at >= retention:
                picked.append(order)
                if len(picked) >= page_rows:
                    break
    rows = []
    for order in picked:
        product, size = account.chrt[order.row["chrt_id"]]
        name, region, is_seller = account.order_warehouse(order, mode, feed=False)
        price = float(order.row["price"])
        rows.append(
            {
                "date": _msk(order.at),
                "lastChangeDate": _msk(order.last_change),
                "warehouseName": name,
                "warehouseType": "Склад продавца" if is_seller else "Склад WB",
                "countryName": "Россия",
                "oblastOkrugName": (region + " федеральный округ") if region else "",
                "regionName": "",
                "supplierArticle": product["vendor_code"],
                "nmId": product["nm_id"],
                "barcode": size["barcodes"][0] if size["barcodes"] else "",
                "category": product["subject"],
                "subject": product["subject"],
                "brand": product["brand"],
                "techSize": size["tech_size"],
                "incomeID": 0,
                "isSupply": False,
                "isRealization": True,
                "totalPrice": round(price / 0.75),
                "discountPercent": 25,
                "spp": 0,
                "finishedPrice": price,
                "priceWithDisc": price,
                "isCancel": order.cancel_at is not None,
                "cancelDate": _msk(order.cancel_at) if order.cancel_at else "0001-01-01T00:00:00",
                "sticker": "",
                "gNumber": order.row["id"].split(".")[1] if "." in order.row["id"] else "",
                "srid": order.row["id"],
            }
        )
    return json_response(rows)


@endpoint(L.SUPPLIER_STOCKS)
async def supplier_stocks(request: web.Request, account: WbAccount) -> web.Response:
    # Switched off on 2026-06-23 (marketplace-api.md §1.5); a legacy switch brings it back.
    if not _state(request).switches.wb_legacy_supplier_stocks:
        return errors.analytics(
            404, "Not Found", "not found", origin="api-statistics", content_type=errors.PROBLEM
        )
    date_from = _parse_date_from(request.query.get("dateFrom"))
    if isinstance(date_from, web.Response):
        return date_from
    stamp = _msk(account.now - timedelta(minutes=30))
    rows = []
    for stock in account.wb_stocks:
        product, size = account.chrt[stock["chrt_id"]]
        warehouse = account.warehouses[stock["warehouse_id"]]
        to_client, from_client = stock.get("in_way_to_client", 0), stock.get("in_way_from_client", 0)
        rows.append(
            {
                "lastChangeDate": stamp,
                "warehouseName": warehouse["name"],
                "supplierArticle": product["vendor_code"],
                "nmId": product["nm_id"],
                "barcode": size["barcodes"][0] if size["barcodes"] else "",
                "quantity": stock["quantity"],
                "inWayToClient": to_client,
                "inWayFromClient": from_client,
                "quantityFull": stock["quantity"] + to_client + from_client,
                "category": product["subject"],
                "subject": product["subject"],
                "brand": product["brand"],
                "techSize": size["tech_size"],
                "Price": 0,
                "Discount": 0,
                "isSupply": True,
                "isRealization": False,
                "SCCode": "Tech",
            }
        )
    return json_response(rows)


# --- analytics: order feed ----------------------------------------------------------------------


def _parse_instant(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@endpoint(L.ORDER_FEED)
async def order_feed(request: web.Request, account: WbAccount) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        return errors.analytics(400, "Bad Request", "request body has an error: invalid JSON")
    period = body.get("selectedPeriod") or {}
    start = _parse_instant(period.get("start"))
    end = _parse_instant(period.get("end")) if period.get("end") else datetime.now(UTC)
    if start is None:
        return errors.analytics(400, "Bad Request", "selectedPeriod.start: field required (date-time)")
    if end is None or start > end:
        return errors.analytics(400, "Bad Request", "selectedPeriod: start must not be after end")
    if start < datetime.now(UTC) - ORDER_FEED_LOOKBACK - timedelta(minutes=5):
        return errors.analytics(400, "Bad Request", "selectedPeriod.start: must be within the last 31 days")
    pagination = body.get("pagination") or {}
    limit, offset = pagination.get("limit", 50), pagination.get("offset", 0)
    if not isinstance(limit, int) or not 1 <= limit <= ORDER_FEED_MAX_LIMIT:
        return errors.analytics(
            400, "Bad Request", f"pagination.limit: must be from 1 to {ORDER_FEED_MAX_LIMIT}"
        )
    if not isinstance(offset, int) or offset < 0:
        return errors.analytics(400, "Bad Request", "pagination.offset: must be a non-negative integer")
    now = datetime.now(UTC).replace(microsecond=0)
    snapshot = _parse_instant(pagination.get("snapshotTime")) if offset else None
    snapshot = min(snapshot or now, now)
    nm_ids = set(body.get("nmIds") or [])
    mode = _mode(request, account)
    picked = [
        o
        for o in account.orders
        if start <= o.at <= end
        and o.last_change <= snapshot
        and (not nm_ids or account.chrt[o.row["chrt_id"]][0]["nm_id"] in nm_ids)
    ]
    picked.sort(key=lambda o: (o.last_change, o.row["id"]), reverse=True)  # newest status first
    orders = []
    for order in picked[offset : offset + limit]:
        product, _ = account.chrt[order.row["chrt_id"]]
        name, region, is_seller = account.order_warehouse(order, mode, feed=True)
        entry: dict[str, Any] = {
            "nmId": product["nm_id"],
            "chrtId": order.row["chrt_id"],
            "srid": order.row["id"],
            "createdAt": _iso_z(order.at),
            "updatedAt": _iso_z(order.last_change),
            "status": "cancel" if order.cancel_at else "created",
            "warehouseName": name,
            "warehouseRegion": region if is_seller else ("" if mode == "aggregated" else region),
            "isMp": is_seller,
            "destinationCity": "Москва",
            "destinationDistrict": "Центральный федеральный округ",
            "sellerPrice": float(order.row["price"]),
            "isB2b": False,
        }
        if order.cancel_at:
            entry["cancelType"] = "app"
        orders.append(entry)
    return json_response({"data": {"snapshotTime": _iso_z(snapshot), "currency": "RUB", "orders": orders}})


# --- marketplace: seller warehouses and their stock ----------------------------------------------


@endpoint(L.SELLER_WAREHOUSES)
async def seller_warehouses(request: web.Request, account: WbAccount) -> web.Response:
    return json_response(
        [
            {
                "name": w["name"],
                "officeId": 15,
                "id": w["id"],
                "cargoType": 2 if w.get("oversized") else 1,
                "deliveryType": 1,
                "isDeleting": False,
                "isProcessing": False,
            }
            for w in account.seller_warehouses()
        ]
    )


@endpoint(L.SELLER_STOCKS)
async def seller_stocks(request: web.Request, account: WbAccount) -> web.Response:
    try:
        warehouse_id = int(request.match_info["warehouse_id"])
    except ValueError:
        return errors.marketplace(400, "IncorrectParameter", "IncorrectParameter")
    if warehouse_id not in {w["id"] for w in account.seller_warehouses()}:
        return errors.marketplace(404, "NotFound", "")
    body = await read_json(request)
    if not isinstance(body, dict):
        return errors.marketplace(400, "IncorrectRequestBody", "Incorrect required body")
    if "skus" in body and "chrtIds" not in body:
        # Barcodes were removed from this method in 2026 (spec 2026-03-06); chrtIds are required.
        return errors.marketplace(400, "IncorrectRequestBody", "skus is no longer supported: use chrtIds")
    chrt_ids = body.get("chrtIds")
    if (
        not isinstance(chrt_ids, list)
        or not 1 <= len(chrt_ids) <= 1000
        or not all(isinstance(c, int) for c in chrt_ids)
    ):
        return errors.marketplace(400, "IncorrectRequestBody", "Incorrect required body")
    return json_response({"stocks": account.seller_stock_amounts(warehouse_id, chrt_ids)})


def register(app: web.Application) -> None:
    from sandbox.server import ERRORS_KEY

    for key in CATEGORY_OF:
        app[ERRORS_KEY][key] = errors.WbErrors(key)
        prefix = "/" + key.replace("_", "-")
        app.router.add_get(f"{prefix}/ping", ping)
    app.router.add_post("/wb-content/content/v2/get/cards/list", cards_list)
    app.router.add_post("/wb-analytics/api/analytics/v1/stocks-report/wb-warehouses", stocks_report_wb)
    app.router.add_post(
        "/wb-analytics/api/analytics/v1/stocks-report/seller-warehouses", stocks_report_seller
    )
    app.router.add_get("/wb-analytics/api/v1/warehouse_remains", remains_create)
    app.router.add_get("/wb-analytics/api/v1/warehouse_remains/tasks/{task_id}/status", remains_status)
    app.router.add_get("/wb-analytics/api/v1/warehouse_remains/tasks/{task_id}/download", remains_download)
    app.router.add_post("/wb-analytics/api/analytics/v1/order-feed", order_feed)
    app.router.add_get("/wb-statistics/api/v1/supplier/orders", supplier_orders)
    app.router.add_get("/wb-statistics/api/v1/supplier/stocks", supplier_stocks)
    app.router.add_get("/wb-marketplace/api/v3/warehouses", seller_warehouses)
    app.router.add_post("/wb-marketplace/api/v3/stocks/{warehouse_id}", seller_stocks)

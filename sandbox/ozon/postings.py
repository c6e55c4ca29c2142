"""Orders as Ozon postings: `/v2/posting/fbo/list` and `/v3/posting/fbs/list` (spec S5).

A scenario order is one posting of one product line; orders at Ozon warehouses are FBO postings,
orders at the seller's warehouses FBS ones. The scenario's `price` is the unit price.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from sandbox.http import json_response
from sandbox.ozon import fields
from sandbox.ozon.errors import BadRequest
from sandbox.ozon.gateway import Body, endpoint
from sandbox.ozon.model import OzonAccount, Scheme, ShiftedOrder, iso, stable_int

MAX_PERIOD = timedelta(days=366)  # "период не больше одного года", else PERIOD_IS_TOO_LONG
DELIVERED_AFTER = timedelta(days=3)  # a posting older than this has reached its buyer
CITY, REGION = "Москва", "Москва"
CLUSTER_TO = "Москва, МО и Дальние регионы"
COMMISSION_PERCENT = 15
CANCEL_REASON_ID = 402  # one buyer-side reason id for every cancellation (the real list is long)
DIRECTIONS = frozenset({"ASC", "DESC"})
Extras = dict[str, bool]  # the request's `with`: optional parts of each posting


def _status(order: ShiftedOrder, now: datetime) -> str:
    if order.row["cancelled"]:
        return "cancelled"
    return "delivered" if order.at < now - DELIVERED_AFTER else "awaiting_deliver"


def _order_number(posting_number: str) -> str:
    # Ozon posting numbers are "<order number>-<posting index>" ("0123456789-0001-1" → "0123456789-0001").
    return posting_number.rsplit("-", 1)[0] if posting_number.count("-") >= 2 else posting_number


def _money(value: float) -> str:
    return f"{value:.6f}"


def _select(
    account: OzonAccount, scheme: Scheme, body: Body, max_offset: int | None
) -> tuple[list[ShiftedOrder], int, int, Extras]:
    """The postings a list request names (all of them, ordered), its limit and offset, its `with`."""
    filters = fields.section(body, "filter", required=True)
    since = fields.instant(filters.get("since"), "filter.since")
    to = fields.instant(filters.get("to"), "filter.to")
    if since > to:
        raise BadRequest("filter.since: must not be after filter.to")
    if to - since > MAX_PERIOD:
        raise BadRequest("PERIOD_IS_TOO_LONG")
    status = filters.get("status") or ""
    warehouse_ids = set(fields.id_list(filters, "warehouse_id"))
    limit = fields.integer(body, "limit", low=1, high=1000)
    offset = fields.integer(body, "offset", low=0, high=max_offset, default=0)
    descending = fields.choice(body, "dir", DIRECTIONS, "ASC") == "DESC"
    extras = {k: bool(v) for k, v in fields.section(body, "with").items()}
    now = datetime.now(UTC)
    picked = [
        o
        for o in account.orders
        if account.scheme(o.row["warehouse_id"]) == scheme
        and since <= o.at <= to
        and (not status or _status(o, now) == status)
        and (not warehouse_ids or o.row["warehouse_id"] in warehouse_ids)
    ]
    return (picked[::-1] if descending else picked), limit, offset, extras


def _products(account: OzonAccount, order: ShiftedOrder) -> list[dict[str, Any]]:
    product = account.by_sku[order.row["sku"]]
    return [
        {
            "sku": product["sku"],
            "offer_id": product["offer_id"],
            "name": product["name"],
            "quantity": order.row["quantity"],
            "price": _money(order.row["price"]),
            "currency_code": "RUB",
            "is_marketplace_buyout": False,
        }
    ]


def _financial(account: OzonAccount, order: ShiftedOrder) -> dict[str, Any]:
    price, quantity = float(order.row["price"]), order.row["quantity"]
    commission = round(price * quantity * COMMISSION_PERCENT / 100, 2)
    warehouse = account.warehouses[order.row["warehouse_id"]]
    return {
        "cluster_from": account.cluster(warehouse)[1] if warehouse["kind"] == "marketplace" else "",
        "cluster_to": CLUSTER_TO,
        "products": [
            {
                "product_id": account.by_sku[order.row["sku"]]["product_id"],
                "price": price,
                "old_price": round(price * 1.25, 2),
                "quantity": quantity,
                "payout": round(price * quantity - commission, 2),
                "commission_amount": commission,
                "commission_percent": COMMISSION_PERCENT,
                "currency_code": "RUB",
                "commissions_currency_code": "RUB",
                "total_discount_percent": 20.0,
                "total_discount_value": round(price * 0.25, 2),
                "actions": [],
            }
        ],
    }


def _common(account: OzonAccount, order: ShiftedOrder, now: datetime) -> dict[str, Any]:
    number = order.row["id"]
    return {
        "posting_number": number,
        "order_id": 10**10 + stable_int(number, 9 * 10**10),
        "order_number": _order_number(number),
        "status": _status(order, now),
        "in_process_at": iso(order.at),
        "products": _products(account, order),
    }


def fbo_posting(account: OzonAccount, order: ShiftedOrder, extras: Extras, now: datetime) -> dict[str, Any]:
    warehouse = account.warehouses[order.row["warehouse_id"]]
    posting = {
        **_common(account, order, now),
        "created_at": iso(order.at),
        "additional_data": [],
        "cancel_reason_id": CANCEL_REASON_ID if order.row["cancelled"] else 0,
    }
    for product in posting["products"]:
        product["digital_codes"] = []
    if extras.get("analytics_data"):
        posting["analytics_data"] = {
            "city": CITY,
            "delivery_type": "PVZ",
            "is_premium": False,
            "is_legal": False,
            "payment_type_group_name": "Карты оплаты",
            "warehouse_id": warehouse["id"],
            "warehouse_name": warehouse["name"],
        }
    if extras.get("financial_data"):
        posting["financial_data"] = _financial(account, order)
    if extras.get("legal_info"):
        posting["legal_info"] = {"company_name": "", "inn": "", "kpp": ""}
    return posting


def fbs_posting(account: OzonAccount, order: ShiftedOrder, extras: Extras, now: datetime) -> dict[str, Any]:
    warehouse = account.warehouses[order.row["warehouse_id"]]
    cancelled = order.row["cancelled"]
    posting = {
        **_common(account, order, now),
        "shipment_date": iso(order.at + timedelta(days=1)),
        "tracking_number": "",
        "tpl_integration_type": "ozon",
        "delivery_method": {
            "id": 10**12 + stable_int(f"dm:{warehouse['id']}", 10**12),
            "name": f"Ozon Логистика, {warehouse['name']}",
            "warehouse_id": warehouse["id"],
            "warehouse": warehouse["name"],
            "tpl_provider_id": 24,
            "tpl_provider": "Ozon Логистика",
        },
        "cancellation": {
            "cancel_reason_id": CANCEL_REASON_ID if cancelled else 0,
            "cancel_reason": "Покупатель отменил заказ" if cancelled else "",
            "cancellation_type": "client" if cancelled else "",
            "cancelled_after_ship": False,
            "affect_cancellation_rating": False,
            "cancellation_initiator": "Покупатель" if cancelled else "",
        },
        "available_actions": [],
        "is_express": False,
        "is_multibox": False,
        "multi_box_qty": 1,
        "parent_posting_number": "",
        "prr_option": "",
        "quantum_id": 0,
        "requirements": {
            "products_requiring_gtd": [],
            "products_requiring_country": [],
            "products_requiring_mandatory_mark": [],
            "products_requiring_jw_uin": [],
            "products_requiring_rnpt": [],
            "products_requiring_change_country": [],
        },
    }
    for product in posting["products"]:
        product["is_blr_traceable"] = False
    if extras.get("analytics_data"):
        posting["analytics_data"] = {
            "city": CITY,
            "region": REGION,
            "delivery_type": "PVZ",
            "is_premium": False,
            "is_legal": False,
            "payment_type_group_name": "Карты оплаты",
            "warehouse_id": warehouse["id"],
            "warehouse": warehouse["name"],
            "tpl_provider": "Ozon Логистика",
            "tpl_provider_id": 24,
            "delivery_date_begin": iso(order.at + timedelta(days=2)),
            "delivery_date_end": iso(order.at + timedelta(days=3)),
        }
    if extras.get("financial_data"):
        posting["financial_data"] = _financial(account, order)
    if extras.get("barcodes"):
        upper = f"%{stable_int(order.row['id'], 10**12)}%"
        posting["barcodes"] = {"upper_barcode": upper, "lower_barcode": ""}
    if extras.get("legal_info"):
        posting["legal_info"] = {"company_name": "", "inn": "", "kpp": ""}
    return posting


@endpoint()
async def fbo_list(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    picked, limit, offset, extras = _select(account, "fbo", body, max_offset=20_000)
    now = datetime.now(UTC)
    result = [fbo_posting(account, o, extras, now) for o in picked[offset : offset + limit]]
    return json_response({"result": result})


@endpoint()
async def fbs_list(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    picked, limit, offset, extras = _select(account, "fbs", body, max_offset=None)
    now = datetime.now(UTC)
    postings = [fbs_posting(account, o, extras, now) for o in picked[offset : offset + limit]]
    return json_response({"result": {"postings": postings, "has_next": offset + limit < len(picked)}})

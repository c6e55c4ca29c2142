"""Product catalogue methods: `/v3/product/list` and `/v3/product/info/list` (§4.7, §4.8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from sandbox.http import json_response
from sandbox.ozon import categories, fields
from sandbox.ozon.errors import BadRequest
from sandbox.ozon.gateway import Body, endpoint
from sandbox.ozon.model import OzonAccount, iso, stable_int
from sandbox.scenario import OzonProduct

# Every sandbox product is moderated, priced and on sale; these visibilities all list it.
ON_SALE = frozenset(
    {
        "ALL",
        "VISIBLE",
        "MODERATED",
        "VALIDATION_STATE_SUCCESS",
        "IN_SALE",
        "READY_TO_SUPPLY",
        "TO_SUPPLY",
        "BARCODE_EXISTS",
    }
)
# Real visibilities naming states no sandbox product is in (archived, failed moderation, …).
NEVER = frozenset(
    {
        "INVISIBLE",
        "NOT_MODERATED",
        "DISABLED",
        "STATE_FAILED",
        "VALIDATION_STATE_PENDING",
        "VALIDATION_STATE_FAIL",
        "REMOVED_FROM_SALE",
        "BANNED",
        "OVERPRICED",
        "CRITICALLY_OVERPRICED",
        "EMPTY_BARCODE",
        "QUARANTINE",
        "ARCHIVED",
        "OVERPRICED_WITH_STOCK",
        "PARTIAL_APPROVED",
    }
)
VISIBILITIES = ON_SALE | NEVER | {"EMPTY_STOCK", "VISIBLE_WITH_FBO_STOCK"}


def select_products(
    account: OzonAccount, filters: dict[str, Any], *, sku_key: str = "skus"
) -> list[OzonProduct]:
    """The products a `filter{offer_id, product_id, <sku_key>, visibility}` names, by product_id.

    Id filters pick products whatever their visibility (Ozon's rule), visibility applies otherwise.
    The SKU filter is `skus` in /v3/product/list (added in 2026), `sku` in /v4/product/info/attributes.
    """
    offer_ids = set(fields.str_list(filters, "offer_id"))
    product_ids = set(fields.id_list(filters, "product_id"))
    skus = set(fields.id_list(filters, sku_key))
    visibility = fields.choice(filters, "visibility", VISIBILITIES, "ALL")
    products = account.products
    if offer_ids or product_ids or skus:
        return [
            p
            for p in products
            if (not offer_ids or p["offer_id"] in offer_ids)
            and (not product_ids or p["product_id"] in product_ids)
            and (not skus or p["sku"] in skus)
        ]
    if visibility in NEVER:
        return []
    if visibility == "EMPTY_STOCK":
        return [p for p in products if not any(c.available for c in account.cells_by_sku.get(p["sku"], []))]
    if visibility == "VISIBLE_WITH_FBO_STOCK":
        return [p for p in products if account.scheme_stock(p["sku"], "fbo")[0] > 0]
    return products


@endpoint()
async def product_list(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    matching = select_products(account, fields.section(body, "filter"))
    limit = fields.integer(body, "limit", low=1, high=1000)
    after = fields.read_cursor(body, "last_id")
    page = [p for p in matching if after is None or p["product_id"] > after][:limit]
    items = [
        {
            "product_id": p["product_id"],
            "offer_id": p["offer_id"],
            "sku": p["sku"],
            "archived": False,
            "has_fbo_stocks": account.scheme_stock(p["sku"], "fbo")[0] > 0,
            "has_fbs_stocks": account.scheme_stock(p["sku"], "fbs")[0] > 0,
            # Economy-tariff quants were switched off on 2026-09-08: always empty now.
            "is_discounted": False,
            "quants": [],
        }
        for p in page
    ]
    # `total` was removed on 2026-11-23 (§4.7); `total_items` counts every matching product.
    return json_response(
        {
            "result": {
                "items": items,
                "total_items": len(matching),
                "last_id": fields.make_cursor(page[-1]["product_id"]) if page else "",
            }
        }
    )


def _price(value: float) -> str:
    return f"{value:.2f}"


def product_info(account: OzonAccount, product: OzonProduct) -> dict[str, Any]:
    sku = product["sku"]
    created = account.now - timedelta(days=30 + stable_int(f"created:{sku}", 400))
    updated = min(account.now, created + timedelta(days=stable_int(f"updated:{sku}", 30), hours=3))
    price = account.price(sku)
    stocks = []
    for scheme in ("fbo", "fbs"):
        if account.cells_of(scheme, sku):
            present, reserved, _ = account.scheme_stock(sku, scheme)
            stocks.append({"present": present, "reserved": reserved, "sku": sku, "source": scheme})
    has_stock = any(s["present"] > 0 for s in stocks)
    return {
        "id": product["product_id"],
        "offer_id": product["offer_id"],
        "sku": sku,
        "name": product["name"],
        "barcodes": [product["barcode"]] if product.get("barcode") else [],
        "description_category_id": categories.description_category_id(product),
        "type_id": categories.type_id(product),
        "currency_code": "RUB",
        "price": _price(price),
        "old_price": _price(round(price * 1.25)),
        "min_price": _price(round(price * 0.9)),
        "marketing_price": _price(price),
        "vat": "0.2",
        "is_archived": False,
        "is_autoarchived": False,
        "is_discounted": False,
        "is_kgt": False,
        "is_prepayment_allowed": True,
        "is_super": False,
        "has_discounted_fbo_item": False,
        "discounted_fbo_stocks": 0,
        "volume_weight": 0.5,
        "images": [],
        "images360": [],
        "color_image": [],
        "primary_image": [],
        "commissions": [],
        "errors": [],
        "promotions": [],
        "model_info": {"model_id": 1_000_000 + stable_int(f"model:{sku}", 9_000_000), "count": 1},
        "sources": [
            {
                "sku": sku,
                "source": "sds",
                "shipment_type": "SHIPMENT_TYPE_GENERAL",
                "created_at": iso(created),
                "quant_code": "",
            }
        ],
        "statuses": {
            "is_created": True,
            "moderate_status": "approved",
            "status": "price_sent",
            "status_description": "",
            "status_failed": "",
            "status_name": "Продается",
            "status_tooltip": "",
            "status_updated_at": iso(updated),
            "validation_status": "success",
        },
        "stocks": {"has_stock": has_stock, "stocks": stocks},
        "visibility_details": {"has_price": True, "has_stock": has_stock},
        "created_at": iso(created),
        "updated_at": iso(updated),
    }


@endpoint()
async def product_info_list(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    offer_ids = set(fields.str_list(body, "offer_id"))
    product_ids = set(fields.id_list(body, "product_id"))
    skus = set(fields.id_list(body, "sku"))
    if len(offer_ids) + len(product_ids) + len(skus) > 1000:
        raise BadRequest("offer_id, product_id, sku: at most 1000 identifiers in total")
    picked = [
        p
        for p in account.products
        if p["offer_id"] in offer_ids or p["product_id"] in product_ids or p["sku"] in skus
    ]
    return json_response({"items": [product_info(account, p) for p in picked]})

"""`/v4/product/info/attributes`: a product's characteristics, its brand among them.

Shapes follow the spec copy's schemas (productv4GetProductAttributesV4Request/Response): `sku`
and `total` are strings there (int64 as JSON strings), though the spec's own example shows numbers.
The brand is attribute 85 («Бренд»), a dictionary attribute: `dictionary_value_id` names the value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from sandbox.http import json_response
from sandbox.ozon import categories, fields
from sandbox.ozon.catalog import select_products
from sandbox.ozon.errors import BadRequest
from sandbox.ozon.gateway import Body, endpoint
from sandbox.ozon.model import OzonAccount, stable_int
from sandbox.scenario import OzonProduct

BRAND = 85  # «Бренд»
TYPE = 8229  # «Тип»: the product type, as in the category tree
NAME = 4180  # «Название»
SELLER_CODE = 9024  # «Код продавца»: the offer_id
# Ozon's dictionary value for a product sold without a brand.
NO_BRAND = {"dictionary_value_id": 126745801, "value": "Нет бренда"}

SORT_KEYS: dict[str, Callable[[OzonProduct], Any]] = {
    "ID": lambda p: p["product_id"],
    "SKU": lambda p: (p["sku"], p["product_id"]),
    "OFFER_ID": lambda p: (p["offer_id"], p["product_id"]),
    "TITLE": lambda p: (p["name"], p["product_id"]),
}
SORT_DIRS = frozenset({"ASC", "DESC"})


def _value(text: str, dictionary: str | None = None) -> dict[str, Any]:
    """One attribute value; dictionary values carry a stable id, free text carries 0."""
    value_id = 900_000_000 + stable_int(f"{dictionary}:{text}", 99_999_999) if dictionary else 0
    return {"dictionary_value_id": value_id, "value": text}


def _attribute(attribute_id: int, value: dict[str, Any]) -> dict[str, Any]:
    return {"id": attribute_id, "complex_id": 0, "values": [value]}


def product_attributes(product: OzonProduct) -> dict[str, Any]:
    brand = product["brand"].strip()
    kind = {"dictionary_value_id": categories.type_id(product), "value": product["category"]}
    barcodes = [product["barcode"]] if product.get("barcode") else []
    return {
        "id": product["product_id"],
        "offer_id": product["offer_id"],
        "sku": str(product["sku"]),
        "name": product["name"],
        "barcode": barcodes[0] if barcodes else "",
        "barcodes": barcodes,
        "description_category_id": categories.description_category_id(product),
        "type_id": categories.type_id(product),
        "attributes": [
            _attribute(BRAND, _value(brand, "brand") if brand else NO_BRAND),
            _attribute(TYPE, kind),
            _attribute(NAME, _value(product["name"])),
            _attribute(SELLER_CODE, _value(product["offer_id"])),
        ],
        "attributes_with_defaults": [],
        "complex_attributes": [],
        "color_image": "",
        "primary_image": "",
        "images": [],
        "pdf_list": [],
        "model_info": {"model_id": 1_000_000 + stable_int(f"model:{product['sku']}", 9_000_000), "count": 1},
        "height": 100,
        "depth": 150,
        "width": 100,
        "dimension_unit": "mm",
        "weight": 500,
        "weight_unit": "g",
    }


@endpoint()
async def attributes(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    """Products by `filter` (ids or visibility), sorted, paged by `last_id` in pages of ≤ `limit`."""
    matching = select_products(account, fields.section(body, "filter"), sku_key="sku")
    limit = fields.integer(body, "limit", low=1, high=1000)
    order = fields.choice(body, "sort_by", frozenset(SORT_KEYS), "ID")
    direction = fields.choice(body, "sort_dir", SORT_DIRS, "ASC")
    # `last_id` counts the products already served in this order (opaque to clients, as Ozon's).
    start = fields.read_cursor(body, "last_id") or 0
    if start < 0:
        raise BadRequest("last_id: invalid value")
    ranked = sorted(matching, key=SORT_KEYS[order], reverse=direction == "DESC")
    page = ranked[start : start + limit]
    return json_response(
        {
            "result": [product_attributes(p) for p in page],
            "total": str(len(matching)),
            # Like /v3/product/list: a non-empty page names where the next starts; the page after
            # the last one is empty with an empty `last_id`.
            "last_id": fields.make_cursor(start + len(page)) if page else "",
        }
    )

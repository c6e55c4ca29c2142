"""Ozon's category tree: `/v1/description-category/tree` and the ids products carry.

A scenario product names its type (`category`, the seller's «Предмет») and, optionally, the
description category that holds it (`parent_category`). Ids derive from the names alone, so every
load serves the same ids and `/v3/product/info/list`, `/v4/product/info/attributes` and the tree
agree. The real tree is one for all sellers: the sandbox's holds the categories of every Ozon
seller in the scenario.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from sandbox.http import json_response
from sandbox.ozon import fields
from sandbox.ozon.gateway import Body, endpoint, sandbox_state
from sandbox.ozon.model import OzonAccount, stable_int
from sandbox.scenario import OzonProduct

# `language` (schema languageLanguage). The sandbox names categories in Russian only, whatever
# language is asked for: DEFAULT is Russian on Ozon too.
LANGUAGES = frozenset({"DEFAULT", "RU", "EN", "TR", "ZH_HANS"})
_TREE_KEY = "ozon.category_tree"


def parent_category(product: OzonProduct) -> str:
    return product.get("parent_category") or product["category"]


def category_id_of(name: str) -> int:
    # 8 digits like 17027492 (spec example).
    return 17_000_000 + stable_int(f"category:{name}", 1_000_000)


def type_id_of(name: str) -> int:
    # 9 digits like 970778135 (spec example); one id per type name, as Ozon reuses types across categories.
    return 970_000_000 + stable_int(f"type:{name}", 29_999_999)


def description_category_id(product: OzonProduct) -> int:
    return category_id_of(parent_category(product))


def type_id(product: OzonProduct) -> int:
    return type_id_of(product["category"])


def build_tree(products: Iterable[OzonProduct]) -> list[dict[str, Any]]:
    """Description categories (by name) with their types (by name) as leaves."""
    types: dict[str, set[str]] = defaultdict(set)
    for product in products:
        types[parent_category(product)].add(product["category"])
    tree = []
    for name in sorted(types):
        leaves = [
            {"type_name": type_name, "type_id": type_id_of(type_name), "disabled": False, "children": []}
            for type_name in sorted(types[name])
        ]
        tree.append(
            {
                "description_category_id": category_id_of(name),
                "category_name": name,
                "disabled": False,
                "children": leaves,
            }
        )
    return tree


@endpoint()
async def tree(request: web.Request, account: OzonAccount, body: Body) -> web.Response:
    """`/v1/description-category/tree`: the same tree for every seller."""
    fields.choice(body, "language", LANGUAGES, "DEFAULT")
    state = sandbox_state(request)
    if _TREE_KEY not in state.extras:  # built once per loaded scenario (extras are cleared on load)
        products = (p for a in state.ozon_accounts.values() for p in a.products)
        state.extras[_TREE_KEY] = build_tree(products)
    return json_response({"result": state.extras[_TREE_KEY]})

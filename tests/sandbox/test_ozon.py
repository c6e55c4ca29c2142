"""The Ozon sandbox behaves as Ozon does: auth, limits, paging, totals that agree across methods,
postings, faults. Every answer of a method in the official spec copy is checked against it; the
2026 methods (absent from the copy) against marketplace-api.md's field tables.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import jsonschema
import orjson
import pytest
import requests
from openapi_core import Config, OpenAPI

from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer
from tests.sandbox.conftest import TIME_SCALE
from tests.sandbox.spec_check import SPECS, validate

HOST = "https://api-seller.ozon.ru"
MSK = timezone(timedelta(hours=3))
CLOCK = datetime(2026, 11, 10, 12, 0, tzinfo=MSK)

HOR, PUSH, KAZ = 15431806189000, 15431806190000, 15431806191000  # Ozon (FBO) warehouses
PODOLSK, KAZAN_FBS = 22207999000, 22208000000  # the seller's own (FBS) warehouses
FBO, FBS = {HOR, PUSH, KAZ}, {PODOLSK, KAZAN_FBS}
MOSCOW = "Москва, МО и Дальние регионы"


def _order(
    n: int, days_ago: float, sku: int, warehouse: int, quantity: int, price: float, cancelled: bool = False
) -> dict[str, Any]:
    at = CLOCK - timedelta(days=days_ago)
    return {
        "id": f"{n:010d}-0001-1",
        "at": at.isoformat(),
        "sku": sku,
        "warehouse_id": warehouse,
        "quantity": quantity,
        "price": price,
        "cancelled": cancelled,
    }


def _stock(
    sku: int, warehouse: int, available: int, reserved: int = 0, to_client: int = 0, from_client: int = 0
) -> dict[str, Any]:
    return {
        "sku": sku,
        "warehouse_id": warehouse,
        "available": available,
        "reserved": reserved,
        "in_way_to_client": to_client,
        "in_way_from_client": from_client,
    }


SHOP = {
    "name": "ozon-shop",
    "marketplace": "ozon",
    "credentials": {"client_id": "123456", "api_key": "key-123456"},
    "products": [
        {
            "product_id": 100 + i,
            "offer_id": f"A-{i}",
            "sku": 1_000_000 + i,
            "name": f"Товар {i}",
            # Product 6 is sold without a brand; product 7's type has no parent category given.
            "brand": {6: "", 7: "Второй бренд"}.get(i, "Бренд"),
            "category": {7: "Чайник"}.get(i, "Кружка" if i % 2 else "Тарелка"),
            **({} if i == 7 else {"parent_category": "Посуда"}),
        }
        for i in range(1, 8)
    ],
    "warehouses": [
        {"id": HOR, "name": "ХОРУГВИНО_РФЦ", "kind": "marketplace", "cluster": MOSCOW, "cluster_id": 4002},
        {"id": PUSH, "name": "ПУШКИНО_1_РФЦ", "kind": "marketplace", "cluster": MOSCOW, "cluster_id": 4002},
        {"id": KAZ, "name": "КАЗАНЬ_РФЦ_НОВЫЙ", "kind": "marketplace", "cluster": "Казань"},
        {"id": PODOLSK, "name": "Мой склад Подольск", "kind": "seller"},
        {"id": KAZAN_FBS, "name": "Склад Казань FBS", "kind": "seller"},
    ],
    "stocks": [
        _stock(1_000_001, HOR, 10, 1, 2, 1),
        _stock(1_000_001, PUSH, 5),
        _stock(1_000_001, KAZ, 3, 1, 1),
        _stock(1_000_001, PODOLSK, 20, 2),
        _stock(1_000_002, KAZ, 7),
        _stock(1_000_002, PODOLSK, 4, 1),
        _stock(1_000_002, KAZAN_FBS, 6),
        _stock(1_000_003, HOR, 0, 2, 3),
        _stock(1_000_004, PODOLSK, 9),
        _stock(1_000_004, KAZAN_FBS, 1),
        _stock(1_000_005, KAZAN_FBS, 2),
        _stock(1_000_005, KAZAN_FBS, 3),  # two rows, one cell: summed
        _stock(1_000_007, HOR, 50),
    ],
    # No order sits near 28, 30 or 60 days back, so window edges cannot flake.
    "orders": [
        _order(1, 1, 1_000_001, HOR, 1, 500.0),
        _order(2, 2, 1_000_001, PUSH, 2, 500.0),
        _order(3, 5, 1_000_002, KAZ, 1, 700.0, cancelled=True),
        _order(4, 10, 1_000_001, HOR, 1, 500.0),
        _order(5, 20, 1_000_003, HOR, 3, 300.0),
        _order(6, 45, 1_000_001, KAZ, 1, 500.0),
        _order(7, 3, 1_000_002, PODOLSK, 1, 700.0),
        _order(8, 12, 1_000_004, KAZAN_FBS, 2, 900.0, cancelled=True),
        _order(9, 25, 1_000_004, PODOLSK, 1, 900.0),
        _order(10, 50, 1_000_004, PODOLSK, 1, 900.0),
        _order(11, 0.5, 1_000_005, KAZAN_FBS, 1, 250.0),
    ],
}
OTHER = {
    "name": "other-shop",
    "marketplace": "ozon",
    "credentials": {"client_id": "654321", "api_key": "key-654321"},
    "products": [
        {
            "product_id": 900,
            "offer_id": "B-1",
            "sku": 9_000_001,
            "name": "Чужой",
            "brand": "X",
            "category": "Y",
        }
    ],
    "warehouses": [{"id": HOR, "name": "ХОРУГВИНО_РФЦ", "kind": "marketplace"}],
    "stocks": [_stock(9_000_001, HOR, 99)],
    "orders": [],
}


# --- spec ---------------------------------------------------------------------------------------


@cache
def _swagger() -> dict[str, Any]:
    return json.loads((SPECS / "ozon" / "seller-swagger.json").read_text())


def _declared(path: str) -> set[str]:
    """The statuses the spec declares for a method (empty when the method is not in it)."""
    return set(_swagger()["paths"].get(path, {}).get("post", {}).get("responses", {}))


@pytest.fixture(scope="module")
def ozon_spec() -> OpenAPI:
    """The official swagger (2.4 MB, loaded once), corrected where Ozon's 2026 contract differs."""
    raw = copy.deepcopy(_swagger())
    # A scheme-relative server URL; openapi-core matches requests against a full one.
    raw["servers"] = [{"url": HOST}]
    # The copy types `quants` as one object; the 2026 doc (§4.7) and real answers have an array.
    item = raw["components"]["schemas"]["productv3GetProductListResponseItem"]["properties"]
    quant = {"$ref": "#/components/schemas/productv3GetProductListResponseItemQuant"}
    item["quants"] = {"type": "array", "items": quant}
    # The copy types two arrays of the attributes answer as "array of strings", which is no JSON
    # Schema type; the descriptions and the example say arrays of strings (barcodes, image links).
    attributes = raw["components"]["schemas"]["productv4GetProductAttributesV4ResponseResult"]["properties"]
    for name in ("barcodes", "images"):
        attributes[name] = {"type": "array", "items": {"type": "string"}}
    # The copy is not a valid document (e.g. `info.version` is a number): skip the document check.
    return OpenAPI.from_dict(raw, config=Config(spec_validator_cls=None))


# Field tables of marketplace-api.md §4.6 and §4.9 (2026 methods, absent from the spec copy).
_INT, _UINT = {"type": "integer"}, {"type": "integer", "minimum": 0}
_STR, _BOOL = {"type": "string"}, {"type": "boolean"}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


def _page(key: str, row: dict[str, Any]) -> dict[str, Any]:
    return _object({"cursor": _STR, "has_next": _BOOL, key: {"type": "array", "items": _object(row)}})


_FBS_ROW = {
    "sku": _INT,
    "offer_id": _STR,
    "product_id": _INT,
    "warehouse_id": _INT,
    "present": _UINT,
    "reserved": _UINT,
    "free_stock": _UINT,
}
FIELD_TABLES: dict[str, dict[str, Any]] = {
    "/v2/warehouse/list": _object(
        {
            "warehouses": {
                "type": "array",
                "items": _object(
                    {
                        "warehouse_id": _INT,
                        "name": _STR,
                        "status": _STR,
                        "warehouse_type": _STR,
                        "is_rfbs": _BOOL,
                        "is_kgt": _BOOL,
                        "has_postings_limit": _BOOL,
                        "postings_limit": _INT,
                        "working_days": {"type": "array"},
                    }
                ),
            },
            "cursor": _STR,
            "has_next": _BOOL,
        }
    ),
    "/v1/product/info/warehouse/stocks": _page(
        "stocks", {**_FBS_ROW, "updated_at": {"type": "string", "format": "date-time"}}
    ),
    "/v2/product/info/stocks-by-warehouse/fbs": _page("products", {**_FBS_ROW, "warehouse_name": _STR}),
}
RPC_STATUS = _object({"code": _INT, "message": _STR, "details": {"type": "array"}})


class Ozon:
    """A test caller with one seller's keys; checks every answer's shape on the way back."""

    def __init__(self, server: SandboxServer, openapi: OpenAPI, seller: dict[str, Any] = SHOP) -> None:
        self.server, self.openapi, self.base = server, openapi, server.urls["ozon"]
        self.session = requests.Session()
        self.session.headers.update(
            {"Client-Id": seller["credentials"]["client_id"], "Api-Key": seller["credentials"]["api_key"]}
        )

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
        answer = self.session.post(self.base + path, json=body, headers=headers, timeout=30)
        self.check(path, answer)
        return answer

    def paced(self, path: str, body: Any) -> requests.Response:
        """Post, waiting out 429s as a client honouring Retry-After does."""
        for _ in range(50):
            answer = self.post(path, body)
            if answer.status_code != 429:
                return answer
            time.sleep(float(answer.headers["Retry-After"]))
        raise AssertionError("still rate limited")

    def check(self, path: str, answer: requests.Response) -> None:
        if answer.status_code != 200:
            jsonschema.validate(answer.json(), RPC_STATUS)
        if path in FIELD_TABLES:
            if answer.status_code == 200:
                jsonschema.validate(answer.json(), FIELD_TABLES[path])
            return
        declared = _declared(path)
        if str(answer.status_code) in declared or "default" in declared:
            validate(self.openapi, HOST + path, answer)

    def control(self, path: str, body: Any) -> requests.Response:
        answer = requests.post(self.server.control_url + path, json=body, timeout=10)
        answer.raise_for_status()
        return answer


@pytest.fixture
def shop_scenario() -> Scenario:
    return parse_scenario(orjson.dumps({"version": 1, "clock": CLOCK.isoformat(), "sellers": [SHOP, OTHER]}))


@pytest.fixture
def ozon_server(shop_scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(shop_scenario, time_scale=TIME_SCALE) as running:
        yield running


@pytest.fixture
def ozon(ozon_server: SandboxServer, ozon_spec: OpenAPI) -> Ozon:
    return Ozon(ozon_server, ozon_spec)


def scenario_totals(seller: dict[str, Any], warehouses: set[int], field: str) -> Counter[int]:
    """Per SKU, the sum of a stock field over some warehouses, straight from the scenario."""
    totals: Counter[int] = Counter()
    for stock in seller["stocks"]:
        if stock["warehouse_id"] in warehouses:
            totals[stock["sku"]] += stock.get(field, 0)
    return totals


def v4_totals(ozon: Ozon, limit: int) -> dict[str, dict[int, tuple[int, int]]]:
    """Walk `/v4/product/info/stocks` by cursor; per scheme, per SKU: (present, reserved)."""
    totals: dict[str, dict[int, tuple[int, int]]] = {"fbo": {}, "fbs": {}}
    cursor, pages = "", 0
    while True:
        answer = ozon.post("/v4/product/info/stocks", {"cursor": cursor, "limit": limit, "filter": {}})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert "total" not in body  # removed 2026-11-23
        for item in body["items"]:
            for stock in item["stocks"]:
                totals[stock["type"]][stock["sku"]] = (stock["present"], stock["reserved"])
        pages += 1
        cursor = body["cursor"]
        if not cursor:
            return totals
        assert pages < 1000


# --- auth ---------------------------------------------------------------------------------------


def test_missing_headers_get_401_code_16(ozon: Ozon) -> None:
    for headers in ({}, {"Client-Id": "123456"}, {"Api-Key": "key-123456"}):
        answer = requests.post(ozon.base + "/v3/product/list", json={"limit": 1}, headers=headers, timeout=10)
        assert answer.status_code == 401
        assert answer.json() == {
            "code": 16,
            "message": "Client-Id and Api-Key headers are required",
            "details": [],
        }


def test_non_numeric_client_id_gets_400_code_3(ozon: Ozon) -> None:
    answer = ozon.post("/v3/product/list", {"limit": 1}, headers={"Client-Id": "shop-1"})
    assert answer.status_code == 400
    assert answer.json()["code"] == 3
    assert answer.json()["message"] == "Client-Id header value should be positive integer"


@pytest.mark.parametrize(
    "headers",
    [
        {"Api-Key": "wrong"},
        {"Api-Key": "key-654321"},  # another seller's key
        {"Client-Id": "999999"},  # no such seller
    ],
)
def test_wrong_key_or_client_gets_404_code_5(ozon: Ozon, headers: dict[str, str]) -> None:
    answer = ozon.post("/v3/product/list", {"limit": 1}, headers=headers)
    assert answer.status_code == 404
    assert answer.json() == {
        "code": 5,
        "message": "Invalid Api-Key, please check the key and try again",
        "details": [],
    }


def test_each_seller_sees_only_its_own_catalogue(
    ozon: Ozon, ozon_server: SandboxServer, ozon_spec: OpenAPI
) -> None:
    other = Ozon(ozon_server, ozon_spec, OTHER)
    mine = ozon.post("/v3/product/list", {"limit": 1000}).json()["result"]["items"]
    theirs = other.post("/v3/product/list", {"limit": 1000}).json()["result"]["items"]
    assert {i["sku"] for i in mine} == {p["sku"] for p in SHOP["products"]}
    assert {i["sku"] for i in theirs} == {9_000_001}


# --- catalogue ----------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, 7, 1000])
def test_product_list_pages_by_last_id_cover_every_product_once(ozon: Ozon, limit: int) -> None:
    seen: list[int] = []
    last_id = ""
    while True:
        body = {"filter": {"visibility": "ALL"}, "last_id": last_id, "limit": limit}
        answer = ozon.post("/v3/product/list", body)
        assert answer.status_code == 200, answer.text
        result = answer.json()["result"]
        assert "total" not in result and result["total_items"] == len(SHOP["products"])
        assert int(answer.headers["Ratelimit-Remaining"]) >= 0
        if not result["items"]:
            assert result["last_id"] == ""
            break
        assert len(result["items"]) <= limit
        seen += [i["product_id"] for i in result["items"]]
        last_id = result["last_id"]
    assert sorted(seen) == sorted(p["product_id"] for p in SHOP["products"])
    assert len(seen) == len(set(seen))


def test_product_list_filters_and_stock_flags(ozon: Ozon) -> None:
    def listed(filters: dict[str, Any]) -> list[dict[str, Any]]:
        answer = ozon.post("/v3/product/list", {"filter": filters, "limit": 10})
        assert answer.status_code == 200, answer.text
        return answer.json()["result"]["items"]

    flags = {
        i["offer_id"]: (i["has_fbo_stocks"], i["has_fbs_stocks"], i["sku"])
        for i in listed({"offer_id": ["A-2", "A-6"]})
    }
    assert flags == {"A-2": (True, True, 1_000_002), "A-6": (False, False, 1_000_006)}
    assert [i["offer_id"] for i in listed({"product_id": ["104"]})] == ["A-4"]
    assert listed({"visibility": "ARCHIVED"}) == []
    assert {i["offer_id"] for i in listed({"visibility": "EMPTY_STOCK"})} == {"A-3", "A-6"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"limit": 0},
        {"limit": 1001},
        {"limit": 5, "last_id": "%%%"},
        {"limit": 5, "filter": {"visibility": "SOMETIMES"}},
    ],
)
def test_product_list_refuses_bad_bodies_with_code_3(ozon: Ozon, body: dict[str, Any]) -> None:
    answer = ozon.post("/v3/product/list", body)
    assert answer.status_code == 400 and answer.json()["code"] == 3 and answer.json()["message"]


def test_product_info_list_by_any_identifier(ozon: Ozon) -> None:
    body = {"offer_id": ["A-1"], "product_id": ["102"], "sku": [1_000_004]}
    answer = ozon.post("/v3/product/info/list", body)
    assert answer.status_code == 200, answer.text
    items = {i["offer_id"]: i for i in answer.json()["items"]}
    assert set(items) == {"A-1", "A-2", "A-4"}
    first = items["A-1"]
    assert first["id"] == 101 and first["sku"] == 1_000_001 and first["name"] == "Товар 1"
    # present = available to sell + reserved (18 + 2 at Ozon, 20 + 2 at the seller's).
    stocks = {s["source"]: (s["present"], s["reserved"]) for s in first["stocks"]["stocks"]}
    assert stocks == {"fbo": (20, 2), "fbs": (22, 2)} and first["stocks"]["has_stock"]
    assert float(first["price"]) == 500.0  # the latest order's price
    too_many = ozon.post("/v3/product/info/list", {"sku": list(range(1, 1002))})
    assert too_many.status_code == 400 and too_many.json()["code"] == 3


# --- attributes and categories ---------------------------------------------------------------------


def attribute_pages(ozon: Ozon, body: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Walk `/v4/product/info/attributes` by `last_id` until the empty page; the pages with items."""
    pages: list[list[dict[str, Any]]] = []
    last_id = ""
    while True:
        answer = ozon.post("/v4/product/info/attributes", {**body, "last_id": last_id})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        if not page["result"]:
            assert page["last_id"] == ""
            return pages
        assert len(page["result"]) <= body["limit"] and len(pages) < 100
        pages.append(page["result"])
        last_id = page["last_id"]


def brand_of(item: dict[str, Any]) -> str:
    (brand,) = [a for a in item["attributes"] if a["id"] == 85]
    assert brand["complex_id"] == 0 and brand["values"][0]["dictionary_value_id"] > 0
    return brand["values"][0]["value"]


@pytest.mark.parametrize("limit", [1, 3, 7, 1000])
def test_attributes_page_by_last_id_and_carry_the_brand(ozon: Ozon, limit: int) -> None:
    first = ozon.post("/v4/product/info/attributes", {"filter": {"visibility": "ALL"}, "limit": limit})
    assert first.json()["total"] == str(len(SHOP["products"]))  # string(int64), as the spec types it
    pages = attribute_pages(ozon, {"filter": {"visibility": "ALL"}, "limit": limit, "sort_dir": "ASC"})
    items = [item for page in pages for item in page]
    assert [i["id"] for i in items] == sorted(p["product_id"] for p in SHOP["products"])
    assert len(pages) == -(-len(SHOP["products"]) // limit)
    brands = {int(i["sku"]): brand_of(i) for i in items}
    assert brands == {p["sku"]: p["brand"] or "Нет бренда" for p in SHOP["products"]}
    # The same product ids, category and type ids as /v3/product/info/list.
    info = ozon.post("/v3/product/info/list", {"product_id": [str(i["id"]) for i in items]}).json()["items"]
    ids = lambda i: (i["id"], i["offer_id"], int(i["sku"]), i["description_category_id"], i["type_id"])  # noqa: E731
    assert sorted(map(ids, items)) == sorted(map(ids, info))


def test_attributes_filter_and_sort(ozon: Ozon) -> None:
    def offers(body: dict[str, Any]) -> list[str]:
        answer = ozon.post("/v4/product/info/attributes", {"limit": 100, **body})
        assert answer.status_code == 200, answer.text
        return [i["offer_id"] for i in answer.json()["result"]]

    assert offers({"filter": {"sku": ["1000002", 1_000_005]}}) == ["A-2", "A-5"]
    assert offers({"filter": {"offer_id": ["A-4"]}}) == ["A-4"]
    assert offers({"filter": {"product_id": ["107", "101"]}}) == ["A-1", "A-7"]
    assert offers({"filter": {"visibility": "ARCHIVED"}}) == []
    assert offers({"sort_dir": "desc"}) == [f"A-{i}" for i in range(7, 0, -1)]
    assert offers({"sort_by": "title", "sort_dir": "DESC", "filter": {"offer_id": ["A-1", "A-3"]}}) == [
        "A-3",
        "A-1",
    ]
    by_offer = attribute_pages(ozon, {"limit": 2, "sort_by": "offer_id", "sort_dir": "DESC"})
    assert [i["offer_id"] for page in by_offer for i in page] == [f"A-{i}" for i in range(7, 0, -1)]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"limit": 0},
        {"limit": 1001},
        {"limit": 5, "last_id": "%%%"},
        {"limit": 5, "sort_dir": "UP"},
        {"limit": 5, "sort_by": "price"},
        {"limit": 5, "filter": {"visibility": "SOMETIMES"}},
        {"limit": 5, "filter": {"product_id": [str(i) for i in range(1001)]}},
        {"limit": 5, "filter": {"sku": ["x"]}},
    ],
)
def test_attributes_refuse_bad_bodies_with_code_3(ozon: Ozon, body: dict[str, Any]) -> None:
    answer = ozon.post("/v4/product/info/attributes", body)
    assert answer.status_code == 400 and answer.json()["code"] == 3 and answer.json()["message"]


def tree_types(nodes: list[dict[str, Any]], parent: tuple[int, str] | None = None) -> dict[Any, Any]:
    """Every type leaf of the tree: (description_category_id, type_id) -> (category, type name)."""
    found: dict[Any, Any] = {}
    for node in nodes:
        if "type_id" in node:
            assert parent is not None and node["children"] == [] and node["disabled"] is False
            found[(parent[0], node["type_id"])] = (parent[1], node["type_name"])
        else:
            assert node["category_name"] and node["children"]
            found |= tree_types(node["children"], (node["description_category_id"], node["category_name"]))
    return found


def test_category_tree_names_every_products_type(ozon: Ozon, ozon_server: SandboxServer) -> None:
    answer = ozon.post("/v1/description-category/tree", {"language": "DEFAULT"})
    assert answer.status_code == 200, answer.text
    types = tree_types(answer.json()["result"])
    items = ozon.post("/v4/product/info/attributes", {"limit": 100}).json()["result"]
    named = {i["offer_id"]: types[(i["description_category_id"], i["type_id"])] for i in items}
    assert named == {
        p["offer_id"]: (p.get("parent_category", p["category"]), p["category"]) for p in SHOP["products"]
    }
    # One tree for every seller (it is Ozon's catalogue, not the seller's): it holds the other's too.
    other = Ozon(ozon_server, ozon.openapi, OTHER).post("/v1/description-category/tree", {}).json()
    assert tree_types(other["result"]) == types and ("Y", "Y") in types.values()
    assert ozon.post("/v1/description-category/tree", {"language": "EN"}).status_code == 200
    refused = ozon.post("/v1/description-category/tree", {"language": "KLINGON"})
    assert refused.status_code == 400 and refused.json()["code"] == 3


@pytest.mark.parametrize("path", ["/v4/product/info/attributes", "/v1/description-category/tree"])
def test_attribute_methods_refuse_missing_or_wrong_keys_in_ozons_words(ozon: Ozon, path: str) -> None:
    body = {"limit": 10}
    missing = requests.post(ozon.base + path, json=body, headers={"Client-Id": "123456"}, timeout=10)
    assert missing.status_code == 401
    assert missing.json() == {
        "code": 16,
        "message": "Client-Id and Api-Key headers are required",
        "details": [],
    }
    wrong = ozon.post(path, body, headers={"Api-Key": "key-654321"})
    assert wrong.status_code == 404
    assert wrong.json() == {
        "code": 5,
        "message": "Invalid Api-Key, please check the key and try again",
        "details": [],
    }
    bad_client = ozon.post(path, body, headers={"Client-Id": "shop-1"})
    assert bad_client.status_code == 400 and bad_client.json()["code"] == 3


# --- stock ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [2, 1000])
def test_v4_stocks_per_scheme_equal_the_scenario(ozon: Ozon, limit: int) -> None:
    """`present` is on the shelf: available to sell + reserved (DESIGN §6), in both schemes."""
    totals = v4_totals(ozon, limit)
    for scheme, warehouses in (("fbo", FBO), ("fbs", FBS)):
        available = scenario_totals(SHOP, warehouses, "available")
        reserved = scenario_totals(SHOP, warehouses, "reserved")
        for product in SHOP["products"]:
            sku = product["sku"]
            assert totals[scheme][sku] == (available[sku] + reserved[sku], reserved[sku]), (scheme, sku)


def test_v4_requires_filter_and_limit(ozon: Ozon) -> None:
    for body in ({"limit": 10}, {"filter": {}}, {"filter": {}, "limit": 1001}):
        answer = ozon.post("/v4/product/info/stocks", body)
        assert answer.status_code == 400 and answer.json()["code"] == 3


def test_analytics_stocks_per_warehouse_add_up_to_v4_fbo(ozon: Ozon) -> None:
    skus = [str(p["sku"]) for p in SHOP["products"]]  # string(int64), as the spec types them
    answer = ozon.paced("/v1/analytics/stocks", {"skus": skus})
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    fbo = v4_totals(ozon, 1000)["fbo"]
    available: Counter[int] = Counter()
    for item in items:
        assert item["warehouse_id"] in FBO
        available[item["sku"]] += item["available_stock_count"]
    assert {sku: present - reserved for sku, (present, reserved) in fbo.items()} == {
        sku: available[sku] for sku in fbo
    }
    cells = {(i["sku"], i["warehouse_id"]): i for i in items}
    hor = cells[(1_000_001, HOR)]
    # Its 2 units on their way to buyers are no supply on its way to the warehouse.
    assert hor["transit_stock_count"] == 0 and hor["return_from_customer_stock_count"] == 1
    assert hor["requested_stock_count"] == 0
    assert (hor["cluster_id"], hor["cluster_name"]) == (4002, MOSCOW)
    # 4 units sold from Ozon warehouses in 28 days (the 45-day-old sale and the cancelled one don't count).
    assert hor["ads"] == round(4 / 28, 2) and hor["idc"] == round(18 / (4 / 28), 1)
    assert hor["turnover_grade"] == "SURPLUS" and hor["turnover_grade_cluster"] == "ACTUAL"
    kazan = cells[(1_000_001, KAZ)]
    assert kazan["cluster_name"] == "Казань" and kazan["ads_cluster"] == 0
    assert kazan["turnover_grade_cluster"] == "NO_SALES"
    # No stock rows for sku 6 (nothing anywhere) and sku 4 (FBS only): no items.
    assert not {1_000_004, 1_000_006} & {i["sku"] for i in items}

    only_hor = ozon.paced("/v1/analytics/stocks", {"skus": skus, "warehouse_ids": [str(HOR)]}).json()["items"]
    assert {i["warehouse_id"] for i in only_hor} == {HOR}
    moscow = ozon.paced("/v1/analytics/stocks", {"skus": skus, "cluster_ids": ["4002"]}).json()["items"]
    assert {i["warehouse_id"] for i in moscow} == {HOR, PUSH}


def test_analytics_stocks_takes_at_most_100_skus(ozon: Ozon) -> None:
    for body in ({"skus": [str(1_000_000 + i) for i in range(101)]}, {"skus": []}, {}, {"skus": ["x"]}):
        answer = ozon.paced("/v1/analytics/stocks", body)
        assert answer.status_code == 400 and answer.json()["code"] == 3, body


def test_stock_on_warehouses_equals_analytics_stocks_and_can_be_switched_off(ozon: Ozon) -> None:
    rows, offset = [], 0
    while True:
        answer = ozon.post("/v2/analytics/stock_on_warehouses", {"limit": 2, "offset": offset})
        page = answer.json()["result"]["rows"]
        rows += page
        if len(page) < 2:
            break
        offset += 2
    skus = [str(p["sku"]) for p in SHOP["products"]]
    items = ozon.paced("/v1/analytics/stocks", {"skus": skus}).json()["items"]
    legacy = {(r["sku"], r["warehouse_name"]): (r["free_to_sell_amount"], r["promised_amount"]) for r in rows}
    current = {
        (i["sku"], i["warehouse_name"]): (i["available_stock_count"], i["transit_stock_count"]) for i in items
    }
    assert legacy == current
    reserved = sum(r["reserved_amount"] for r in rows)
    assert reserved == sum(scenario_totals(SHOP, FBO, "reserved").values())
    assert {r["item_code"] for r in rows} == {"A-1", "A-2", "A-3", "A-7"}

    ozon.control("/settings", {"ozon_stock_on_warehouses": False})
    gone = ozon.post("/v2/analytics/stock_on_warehouses", {"limit": 10})
    assert gone.status_code == 404 and gone.json()["code"] == 5
    ozon.control("/settings", {"ozon_stock_on_warehouses": True})
    assert ozon.post("/v2/analytics/stock_on_warehouses", {"limit": 10}).status_code == 200


def test_fbs_stock_by_warehouse_equals_the_scenario(ozon: Ozon) -> None:
    expected: Counter[tuple[int, int]] = Counter()
    for stock in SHOP["stocks"]:
        if stock["warehouse_id"] in FBS:
            expected[(stock["sku"], stock["warehouse_id"])] += stock["available"]

    warehouses, cursor = [], ""
    while True:
        body = ozon.post("/v2/warehouse/list", {"limit": 1, "cursor": cursor}).json()
        warehouses += body["warehouses"]
        if not body["has_next"]:
            assert body["cursor"] == ""
            break
        cursor = body["cursor"]
    assert {w["warehouse_id"] for w in warehouses} == FBS  # Ozon's own warehouses are not listed

    per_warehouse: dict[tuple[int, int], int] = {}
    for warehouse in warehouses:
        cursor = ""
        while True:
            body = ozon.post(
                "/v1/product/info/warehouse/stocks",
                {"warehouse_id": warehouse["warehouse_id"], "limit": 1, "cursor": cursor},
            ).json()
            for row in body["stocks"]:
                assert row["free_stock"] == row["present"] - row["reserved"]
                per_warehouse[(row["sku"], row["warehouse_id"])] = row["free_stock"]
            if not body["has_next"]:
                break
            cursor = body["cursor"]
    assert per_warehouse == dict(expected)
    podolsk = ozon.post("/v1/product/info/warehouse/stocks", {"warehouse_id": PODOLSK, "limit": 10}).json()
    shelf = {r["sku"]: (r["present"], r["reserved"], r["free_stock"]) for r in podolsk["stocks"]}
    assert shelf[1_000_001] == (22, 2, 20)  # 20 available to sell, 2 reserved by buyers

    by_sku: dict[tuple[int, int], int] = {}
    cursor = ""
    skus = [str(p["sku"]) for p in SHOP["products"]]
    while True:
        body = ozon.post(
            "/v2/product/info/stocks-by-warehouse/fbs", {"sku": skus, "limit": 2, "cursor": cursor}
        ).json()
        by_sku |= {(r["sku"], r["warehouse_id"]): r["present"] - r["reserved"] for r in body["products"]}
        if not body["has_next"]:
            break
        cursor = body["cursor"]
    assert by_sku == dict(expected)
    by_offer = ozon.post(
        "/v2/product/info/stocks-by-warehouse/fbs", {"offer_id": ["A-5"], "limit": 10}
    ).json()
    assert [(r["warehouse_name"], r["present"]) for r in by_offer["products"]] == [("Склад Казань FBS", 5)]

    for warehouse_id in (HOR, 1):  # an Ozon warehouse, an unknown one
        answer = ozon.post("/v1/product/info/warehouse/stocks", {"warehouse_id": warehouse_id, "limit": 10})
        assert answer.status_code == 404 and answer.json()["code"] == 5


# --- turnover and its limit ------------------------------------------------------------------------


def test_turnover_allows_one_call_a_minute_and_honours_retry_after(ozon: Ozon) -> None:
    first = ozon.post("/v1/analytics/turnover/stocks", {"limit": 1000, "offset": 0})
    assert first.status_code == 200, first.text
    assert first.headers["Ratelimit-Remaining"] == "0"
    items = {i["sku"]: i for i in first.json()["items"]}
    assert len(items) == len(SHOP["products"])
    sku1 = items[1_000_001]
    # 5 units sold from Ozon warehouses in 60 days; 18 units on Ozon's shelves.
    assert sku1["current_stock"] == 18 and sku1["ads"] == round(5 / 60, 2)
    assert sku1["idc"] == round(18 / (5 / 60), 1)
    assert (sku1["idc_grade"], sku1["turnover_grade"]) == ("GRADES_GREEN", "GRADES_CRITICAL")
    assert (items[1_000_006]["current_stock"], items[1_000_006]["idc_grade"]) == (0, "GRADES_NONE")
    assert items[1_000_007]["idc_grade"] == "GRADES_NOSALES"

    second = ozon.post("/v1/analytics/turnover/stocks", {"sku": ["1000001"]})
    assert second.status_code == 429
    assert second.json() == {
        "code": 8,
        "message": "You have reached request rate limit per second",
        "details": [],
    }
    wait = float(second.headers["Retry-After"])
    assert 0 < wait <= 60 / TIME_SCALE + 0.05  # one minute, time-scaled
    time.sleep(wait)
    third = ozon.post("/v1/analytics/turnover/stocks", {"sku": ["1000001"]})
    assert third.status_code == 200 and [i["sku"] for i in third.json()["items"]] == [1_000_001]


# --- postings ------------------------------------------------------------------------------------


def _window_orders(days: int, warehouses: set[int]) -> list[dict[str, Any]]:
    since = CLOCK - timedelta(days=days)
    return [
        o
        for o in SHOP["orders"]
        if o["warehouse_id"] in warehouses and datetime.fromisoformat(o["at"]) > since
    ]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_postings_per_scheme_equal_the_scenario_orders_in_the_window(ozon: Ozon) -> None:
    now = datetime.now(UTC)
    window = {"since": _iso(now - timedelta(days=30)), "to": _iso(now + timedelta(minutes=1))}
    fbo = ozon.post(
        "/v2/posting/fbo/list",
        {
            "dir": "ASC",
            "filter": window,
            "limit": 1000,
            "offset": 0,
            "with": {"analytics_data": True, "financial_data": True},
        },
    )
    assert fbo.status_code == 200, fbo.text
    postings = fbo.json()["result"]
    expected = _window_orders(30, FBO)
    assert sorted(p["posting_number"] for p in postings) == sorted(o["id"] for o in expected)
    assert all(p["analytics_data"]["warehouse_id"] in FBO for p in postings)
    assert [p["posting_number"] for p in postings if p["status"] == "cancelled"] == [
        o["id"] for o in expected if o["cancelled"]
    ]
    newest = postings[-1]  # ASC: oldest first
    assert newest["products"] == [
        {
            "sku": 1_000_001,
            "offer_id": "A-1",
            "name": "Товар 1",
            "quantity": 1,
            "price": "500.000000",
            "currency_code": "RUB",
            "is_marketplace_buyout": False,
            "digital_codes": [],
        }
    ]
    # Served one day before the sandbox's "now", as the scenario has it one day before its clock.
    served = datetime.fromisoformat(newest["created_at"].replace("Z", "+00:00"))
    assert abs(served - (now - timedelta(days=1))) < timedelta(minutes=1)

    fbs, offset = [], 0
    while True:
        body = {
            "dir": "DESC",
            "filter": window,
            "limit": 2,
            "offset": offset,
            "with": {"analytics_data": True},
        }
        result = ozon.post("/v3/posting/fbs/list", body).json()["result"]
        fbs += result["postings"]
        if not result["has_next"]:
            break
        offset += 2
    assert sorted(p["posting_number"] for p in fbs) == sorted(o["id"] for o in _window_orders(30, FBS))
    assert all(p["delivery_method"]["warehouse_id"] in FBS for p in fbs)
    assert fbs[0]["analytics_data"]["warehouse"] == "Склад Казань FBS"  # DESC: newest first

    cancelled = ozon.post(
        "/v3/posting/fbs/list", {"filter": {**window, "status": "cancelled"}, "limit": 10, "offset": 0}
    ).json()["result"]["postings"]
    assert [p["posting_number"] for p in cancelled] == ["0000000008-0001-1"]


def test_postings_refuse_bad_windows(ozon: Ozon) -> None:
    for body in (
        {"filter": {"since": "2025-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"}, "limit": 10},
        {"filter": {"since": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "limit": 10},
        {"filter": {"since": "2026-01-01T00:00:00Z"}, "limit": 10},
        {"filter": {"since": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}},
    ):
        for path in ("/v2/posting/fbo/list", "/v3/posting/fbs/list"):
            answer = ozon.post(path, body)
            assert answer.status_code == 400 and answer.json()["code"] == 3, (path, body)


# --- faults and removed methods --------------------------------------------------------------------


def test_injected_500_answers_once_in_ozon_shape_then_recovers(ozon: Ozon) -> None:
    ozon.control("/faults", {"service": "ozon", "endpoint": "/v3/product/list", "kind": "500", "count": 1})
    failed = ozon.post("/v3/product/list", {"limit": 10})
    assert failed.status_code == 500
    assert failed.json() == {"code": 13, "message": "Internal error", "details": []}
    assert ozon.post("/v3/product/list", {"limit": 10}).status_code == 200


def test_injected_429_carries_retry_after(ozon: Ozon) -> None:
    ozon.control("/faults", {"service": "ozon", "endpoint": "*", "kind": "429", "count": 1})
    limited = ozon.post("/v4/product/info/stocks", {"filter": {}, "limit": 10})
    assert limited.status_code == 429 and limited.json()["code"] == 8
    assert float(limited.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "path",
    [
        "/v1/warehouse/list",
        "/v1/product/info/stocks-by-warehouse/fbs",
        "/v3/product/info/stocks",
        "/v2/product/list",
    ],
)
def test_switched_off_methods_answer_404(ozon: Ozon, path: str) -> None:
    answer = requests.post(ozon.base + path, json={}, headers=dict(ozon.session.headers), timeout=10)
    assert answer.status_code == 404 and answer.json()["code"] == 5


# --- a generated catalogue ---------------------------------------------------------------------------


def test_generated_shop_totals_agree_across_methods(scenario: Scenario, ozon_spec: OpenAPI) -> None:
    """At realistic size (the suite's generated scenario): SKU batches of 100, 1000-row pages."""
    seller = next(s for s in scenario["sellers"] if s["marketplace"] == "ozon")
    fbo_ids = {w["id"] for w in seller["warehouses"] if w["kind"] == "marketplace"}
    fbs_ids = {w["id"] for w in seller["warehouses"] if w["kind"] == "seller"}
    with SandboxServer(scenario, time_scale=TIME_SCALE) as server:
        ozon = Ozon(server, ozon_spec, seller)
        # The generator reserves units in both schemes, so present and available differ.
        for ids in (fbo_ids, fbs_ids):
            assert sum(scenario_totals(seller, ids, "reserved").values()) > 0
        totals = v4_totals(ozon, 1000)
        for scheme, ids in (("fbo", fbo_ids), ("fbs", fbs_ids)):
            available = scenario_totals(seller, ids, "available")
            reserved = scenario_totals(seller, ids, "reserved")
            assert {k: v[0] - v[1] for k, v in totals[scheme].items() if v[0] - v[1]} == +available
            assert {k: v[1] for k, v in totals[scheme].items() if v[1]} == +reserved
        skus = [str(p["sku"]) for p in seller["products"]]
        analytics: Counter[int] = Counter()
        for start in range(0, len(skus), 100):
            answer = ozon.paced("/v1/analytics/stocks", {"skus": skus[start : start + 100]})
            assert answer.status_code == 200, answer.text
            for item in answer.json()["items"]:
                analytics[item["sku"]] += item["available_stock_count"]
        answer = ozon.post("/v2/analytics/stock_on_warehouses", {"limit": 1000, "offset": 0})
        rows = answer.json()["result"]["rows"]
        legacy: Counter[int] = Counter()
        for row in rows:
            legacy[row["sku"]] += row["free_to_sell_amount"]
        fbo = {k: v[0] - v[1] for k, v in totals["fbo"].items() if v[0] - v[1]}
        assert {k: v for k, v in analytics.items() if v} == fbo == {k: v for k, v in legacy.items() if v}
        info = ozon.post("/v3/product/info/list", {"sku": skus[:1000]})
        assert info.status_code == 200 and len(info.json()["items"]) == len(skus)
        window = {"since": _iso(datetime.now(UTC) - timedelta(days=365)), "to": _iso(datetime.now(UTC))}
        extras = {"analytics_data": True, "financial_data": True, "legal_info": True}
        fbo_postings = ozon.post("/v2/posting/fbo/list", {"filter": window, "limit": 1000, "with": extras})
        fbs_postings = ozon.post(
            "/v3/posting/fbs/list",
            {"filter": window, "limit": 1000, "offset": 0, "with": {**extras, "barcodes": True}},
        )
        assert fbo_postings.status_code == 200 and fbs_postings.status_code == 200
        by_scheme = Counter("fbo" if o["warehouse_id"] in fbo_ids else "fbs" for o in seller["orders"])
        assert len(fbo_postings.json()["result"]) == min(1000, by_scheme["fbo"])
        assert len(fbs_postings.json()["result"]["postings"]) == min(1000, by_scheme["fbs"])

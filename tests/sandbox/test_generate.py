"""generate_scenario: deterministic, sized as asked, realistically skewed, and a valid scenario."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import orjson
import pytest

from sandbox.generate import MSK, generate_scenario
from sandbox.scenario import parse_scenario
from sandbox.wb.tokens import read_token

CLOCK = datetime(2025, 11, 10, 23, 59, tzinfo=MSK)


@pytest.fixture(scope="module")
def generated() -> dict:
    return generate_scenario(sellers=2, skus=1000, warehouses=40, days=30, seed=7, clock=CLOCK)


def _wb(generated: dict, index: int = 0) -> dict:
    return [s for s in generated["sellers"] if s["marketplace"] == "wildberries"][index]


def _ozon(generated: dict) -> dict:
    return next(s for s in generated["sellers"] if s["marketplace"] == "ozon")


def test_same_seed_same_bytes_other_seed_differs() -> None:
    first = generate_scenario(sellers=2, skus=200, warehouses=10, seed=3, clock=CLOCK)
    again = generate_scenario(sellers=2, skus=200, warehouses=10, seed=3, clock=CLOCK)
    other = generate_scenario(sellers=2, skus=200, warehouses=10, seed=4, clock=CLOCK)
    assert orjson.dumps(first) == orjson.dumps(again)
    assert orjson.dumps(first) != orjson.dumps(other)
    assert _wb(first)["credentials"] != _wb(other)["credentials"]


def test_clock_moves_only_order_times() -> None:
    early = generate_scenario(sellers=2, skus=200, warehouses=10, seed=3, clock=CLOCK)
    later = generate_scenario(
        sellers=2, skus=200, warehouses=10, seed=3, clock=CLOCK.replace(hour=15, minute=7)
    )
    for a, b in zip(early["sellers"], later["sellers"], strict=True):
        assert (a["products"], a["stocks"], a["credentials"]) == (
            b["products"],
            b["stocks"],
            b["credentials"],
        )
        assert [o["id"] for o in a["orders"]] == [o["id"] for o in b["orders"]]
        assert [o["at"] for o in a["orders"]] != [o["at"] for o in b["orders"]]


def test_default_clock_is_msk_minute() -> None:
    clock = datetime.fromisoformat(generate_scenario(sellers=1, skus=5, warehouses=3)["clock"])
    assert clock.utcoffset() == MSK.utcoffset(None)
    assert clock.second == 0 and clock.microsecond == 0


def test_parse_scenario_accepts_it(generated: dict) -> None:
    parsed = parse_scenario(orjson.dumps(generated))
    assert parsed["version"] == 1
    assert parsed["clock"] == "2025-11-10T23:59:00+03:00"
    assert parsed["wb_warehouse_mode"] == "detailed"


def test_requested_counts(generated: dict) -> None:
    assert [(s["name"], s["marketplace"]) for s in generated["sellers"]] == [
        (generated["sellers"][0]["name"], "wildberries"),
        (generated["sellers"][1]["name"], "wildberries"),
        (generated["sellers"][1]["name"], "ozon"),
    ]
    for seller in generated["sellers"]:
        assert len(seller["products"]) == 1000
        market = [w for w in seller["warehouses"] if w["kind"] == "marketplace"]
        own = [w for w in seller["warehouses"] if w["kind"] == "seller"]
        assert len(market) == 40
        assert 1 <= len(own) <= 2


def test_sixty_wb_warehouses_are_unique_and_real_first() -> None:
    seller = generate_scenario(sellers=1, skus=20, warehouses=60, clock=CLOCK)["sellers"][0]
    market = [w for w in seller["warehouses"] if w["kind"] == "marketplace"]
    assert len(market) == 60
    assert len({w["id"] for w in seller["warehouses"]}) == len(seller["warehouses"])
    assert len({w["name"] for w in market}) == 60
    by_name = {w["name"]: w for w in market}
    assert by_name["Коледино"]["id"] == 507 and by_name["Коледино"]["region"] == "Центральный"
    assert by_name["Минск"]["region"] == "Беларусь"
    assert "Коледино 2" in by_name
    oversized = [w["name"] for w in market if w.get("oversized")]
    assert 1 <= len(oversized) <= 2 and all("СГТ" in name for name in oversized)


def test_wb_ids_have_real_widths_and_are_unique(generated: dict) -> None:
    seller = _wb(generated)
    nm_ids = [p["nm_id"] for p in seller["products"]]
    sizes = [s for p in seller["products"] for s in p["sizes"]]
    assert len(set(nm_ids)) == len(nm_ids) and all(8 <= len(str(n)) <= 9 for n in nm_ids)
    assert all(1 <= len(p["sizes"]) <= 5 for p in seller["products"])
    assert len({s["chrt_id"] for s in sizes}) == len(sizes) and all(
        len(str(s["chrt_id"])) == 9 for s in sizes
    )
    barcodes = [b for s in sizes for b in s["barcodes"]]
    assert len(set(barcodes)) == len(barcodes) and all(len(b) == 13 and b.isdigit() for b in barcodes)
    assert {s["tech_size"] for s in sizes} >= {"0", "M", "44"}
    order_ids = [o["id"] for o in seller["orders"]]
    assert len(set(order_ids)) == len(order_ids)
    assert all(o.count(".") == 3 and o.endswith(".0") for o in order_ids)
    assert read_token(seller["credentials"]["token"]).categories >= {"analytics", "statistics"}


def test_references_are_valid(generated: dict) -> None:
    for seller in generated["sellers"]:
        warehouse_ids = {w["id"] for w in seller["warehouses"]}
        if seller["marketplace"] == "wildberries":
            items, key = {s["chrt_id"] for p in seller["products"] for s in p["sizes"]}, "chrt_id"
        else:
            items, key = {p["sku"] for p in seller["products"]}, "sku"
        for row in seller["stocks"] + seller["orders"]:
            assert row[key] in items
            assert row["warehouse_id"] in warehouse_ids


def test_orders_in_window_with_five_percent_cancelled(generated: dict) -> None:
    orders = [o for s in generated["sellers"] for o in s["orders"]]
    assert len(orders) > 5000
    share = sum(o["cancelled"] for o in orders) / len(orders)
    assert 0.035 < share < 0.065
    stamps = [datetime.fromisoformat(o["at"]) for o in orders]
    assert all(s.utcoffset() == MSK.utcoffset(None) for s in stamps)
    assert CLOCK.timestamp() - 30 * 86400 <= min(s.timestamp() for s in stamps)
    assert max(s.timestamp() for s in stamps) < CLOCK.timestamp()
    assert all(o["price"] > 0 for o in orders)


def test_orders_follow_stock_and_include_fbs(generated: dict) -> None:
    seller = _wb(generated)
    stocked = {(s["chrt_id"], s["warehouse_id"]) for s in seller["stocks"] if s["quantity"]}
    from_stock = sum((o["chrt_id"], o["warehouse_id"]) in stocked for o in seller["orders"])
    assert from_stock / len(seller["orders"]) > 0.8
    own = {w["id"] for w in seller["warehouses"] if w["kind"] == "seller"}
    assert any(o["warehouse_id"] in own for o in seller["orders"])
    assert any(s["warehouse_id"] in own for s in seller["stocks"])
    # Orders go to well-stocked sizes: the sizes with stock get far more orders per size.
    stock_by_size = Counter()
    for s in seller["stocks"]:
        stock_by_size[s["chrt_id"]] += s["quantity"]
    orders_by_size = Counter(o["chrt_id"] for o in seller["orders"])
    ranked = sorted(stock_by_size, key=stock_by_size.__getitem__)
    low, high = ranked[: len(ranked) // 4], ranked[-len(ranked) // 4 :]
    assert sum(orders_by_size[c] for c in high) > 3 * sum(orders_by_size[c] for c in low)


def test_stock_is_skewed(generated: dict) -> None:
    for seller in generated["sellers"]:
        market = {w["id"] for w in seller["warehouses"] if w["kind"] == "marketplace"}
        field = "quantity" if seller["marketplace"] == "wildberries" else "available"
        per_warehouse = Counter()
        for s in seller["stocks"]:
            if s["warehouse_id"] in market:
                per_warehouse[s["warehouse_id"]] += s[field]
        totals = sorted(per_warehouse.values(), reverse=True)
        top = totals[: len(market) // 5]
        assert sum(top) > 0.5 * sum(totals)
        quantities = sorted(s[field] for s in seller["stocks"])
        median, p99 = quantities[len(quantities) // 2], quantities[int(len(quantities) * 0.99)]
        assert median < 20 and p99 > 10 * max(median, 1)
        # Zero rows are the exception (only kept when something is in transit).
        assert sum(1 for s in seller["stocks"] if not s[field]) < 0.2 * len(seller["stocks"])
        ways = [s["in_way_to_client"] for s in seller["stocks"]]
        assert max(ways) < 50 and sum(ways) < 0.2 * sum(quantities)


def test_seller_two_is_on_wb_and_ozon(generated: dict) -> None:
    wb, ozon = _wb(generated, 1), _ozon(generated)
    assert wb["name"] == ozon["name"] and wb["name"].startswith("seller-2-")
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in wb["name"])
    assert ozon["credentials"]["client_id"].isdigit() and 6 <= len(ozon["credentials"]["client_id"]) <= 7
    assert len(ozon["credentials"]["api_key"]) == 36
    assert {p["offer_id"] for p in ozon["products"]} == {p["vendor_code"] for p in wb["products"]}
    assert all(len(str(p["product_id"])) == 9 and 9 <= len(str(p["sku"])) <= 10 for p in ozon["products"])
    fbo = [w for w in ozon["warehouses"] if w["kind"] == "marketplace"]
    assert fbo[0]["name"] == "ХОРУГВИНО_РФЦ" and fbo[0]["cluster"] == "Москва, МО и Дальние регионы"
    assert all(len(str(w["id"])) == 14 and isinstance(w["cluster_id"], int) for w in fbo)
    assert all(w["name"] == w["name"].upper() for w in fbo)
    postings = [o["id"] for o in ozon["orders"]]
    assert len(set(postings)) == len(postings)
    assert all(len(p) == 17 and p[10] == "-" and p[15] == "-" for p in postings)
    assert {o["quantity"] for o in ozon["orders"]} <= {1, 2, 3}
    assert sum(o["quantity"] == 1 for o in ozon["orders"]) > 0.8 * len(ozon["orders"])
    odd = generated["sellers"][0]
    assert sum(s["name"] == odd["name"] for s in generated["sellers"]) == 1

"""The WB cabinet export becomes a scenario whose stocks and orders are exactly the export's."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from sandbox.export import cabinet_export_expectations, scenario_from_cabinet_export
from sandbox.scenario import parse_scenario
from sandbox.wb.tokens import read_token

# ../shared beside the repository (as in CI); a missing file fails the tests that read it.
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
EXPORT = SHARED / "data" / "wb-cabinet-stock-history-2025-10-22_28.csv"


def _csv_totals() -> dict[tuple[int, str, str], Counter]:
    """The export read independently: per (nmId, size, warehouse), summed, empty = 0."""
    with EXPORT.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[1], rows[2:]
    col = {name: header.index(name) for name in header}
    totals: dict[tuple[int, str, str], Counter] = {}
    for row in body:
        size = row[col["Размер"]]
        key = (int(row[col["Артикул WB"]]), "0" if size == "-" else size, row[col["Склад"]])
        counter = totals.setdefault(key, Counter())
        for field, column in (
            ("stock", "Остатки на текущий день, шт"),
            ("to", "В пути к клиенту, шт"),
            ("from", "В пути от клиента, шт"),
            ("orders", "Заказали, шт"),
        ):
            counter[field] += int(row[col[column]] or 0)
    return totals


@pytest.fixture(scope="module")
def seller() -> dict:
    scenario = scenario_from_cabinet_export(EXPORT)
    parsed = parse_scenario(orjson.dumps(scenario))
    assert parsed["clock"] == "2025-10-29T09:00:00+03:00"
    assert [s["name"] for s in parsed["sellers"]] == ["its-collagen"]
    return scenario["sellers"][0]


def _by_key(seller: dict) -> tuple[dict[int, tuple[int, str]], dict[int, str]]:
    sizes = {s["chrt_id"]: (p["nm_id"], s["tech_size"]) for p in seller["products"] for s in p["sizes"]}
    names = {w["id"]: w["name"] for w in seller["warehouses"]}
    return sizes, names


def test_catalogue_and_warehouses(seller: dict) -> None:
    assert len(seller["products"]) == 13
    assert len(seller["warehouses"]) == 30
    assert len({w["id"] for w in seller["warehouses"]}) == 30
    fbs = [w for w in seller["warehouses"] if w["kind"] == "seller"]
    assert [w["name"] for w in fbs] == ["Маркетплейс"]
    assert all(w.get("region") for w in seller["warehouses"] if w["kind"] == "marketplace")
    product = next(p for p in seller["products"] if p["nm_id"] == 163383326)
    assert product["vendor_code"] == "Its1_2_3/50g" and product["brand"] == "ITS COLLAGEN"
    assert [s["tech_size"] for s in product["sizes"]] == ["0"]
    chrt_ids = [s["chrt_id"] for p in seller["products"] for s in p["sizes"]]
    assert len(set(chrt_ids)) == len(chrt_ids)
    assert read_token(seller["credentials"]["token"]).categories >= {"analytics", "statistics"}


def test_stocks_and_orders_equal_the_csv(seller: dict) -> None:
    sizes, names = _by_key(seller)
    got: dict[tuple[int, str, str], Counter] = {}
    for s in seller["stocks"]:
        counter = got.setdefault((*sizes[s["chrt_id"]], names[s["warehouse_id"]]), Counter())
        counter["stock"] += s["quantity"]
        counter["to"] += s.get("in_way_to_client", 0)
        counter["from"] += s.get("in_way_from_client", 0)
    for o in seller["orders"]:
        got.setdefault((*sizes[o["chrt_id"]], names[o["warehouse_id"]]), Counter())["orders"] += 1
    expected = _csv_totals()
    assert set(got) <= set(expected)
    for key, counter in expected.items():
        assert +got.get(key, Counter()) == +counter, key
    # The file's headline numbers: 86 % of the stock is FBS.
    fbs_id = next(w["id"] for w in seller["warehouses"] if w["kind"] == "seller")
    fbs_share = sum(s["quantity"] for s in seller["stocks"] if s["warehouse_id"] == fbs_id) / sum(
        s["quantity"] for s in seller["stocks"]
    )
    assert 0.85 < fbs_share < 0.87


def test_orders_fall_in_the_seven_days(seller: dict) -> None:
    orders = seller["orders"]
    assert len({o["id"] for o in orders}) == len(orders)
    assert not any(o["cancelled"] for o in orders)
    days = Counter(datetime.fromisoformat(o["at"]).date().isoformat() for o in orders)
    assert set(days) == {f"2025-10-{d}" for d in range(22, 29)}
    assert all(o["at"].endswith("+03:00") for o in orders)
    big = [o for o in orders if o["chrt_id"] == 263383326 and o["price"] == 1986.0]
    assert len(big) == 18 + 16 + 14 + 14 + 13 + 10 + 5 + 4 + 2 + 2


def test_expectations_match_the_csv() -> None:
    expected = cabinet_export_expectations(EXPORT)
    independent = _csv_totals()
    assert len(expected) == len(independent) == 81
    for key, counter in independent.items():
        entry = expected[key]
        assert (entry["stock"], entry["in_way_to_client"], entry["in_way_from_client"], entry["orders"]) == (
            counter["stock"],
            counter["to"],
            counter["from"],
            counter["orders"],
        )
    assert expected[163383326, "0", "Маркетплейс"]["stock"] == 2984


def test_conversion_is_deterministic() -> None:
    assert orjson.dumps(scenario_from_cabinet_export(EXPORT)) == orjson.dumps(
        scenario_from_cabinet_export(EXPORT)
    )

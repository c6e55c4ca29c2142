"""The supply plan's arithmetic on hand-made inputs: units, dates, box rounding, exclusions, lead
times, the rate source, order (warehouse/supply_plan.py). The end-to-end test through the sandbox
is tests/orchestration/test_supply_plan.py."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from warehouse.supply_plan import build_inputs, compute_plan, urgent_rows
from warehouse.supply_settings import SupplySettings

TODAY = date(2026, 11, 30)
METRIC_COLUMNS = [
    "marketplace",
    "product_id",
    "article",
    "title",
    "warehouse_name",
    "warehouse_kind",
    "stock",
    "orders",
]
CLUSTER_SCHEMA = {
    "product_id": pl.Int64,
    "warehouse_name": pl.String,
    "cluster_name": pl.String,
    "in_transit": pl.Int64,
    "requested": pl.Int64,
    "ads_cluster": pl.Float64,
}


def plan(metrics: list[tuple[Any, ...]], clusters: list[tuple[Any, ...]] = (), **settings: Any) -> list[dict]:
    inputs = build_inputs(
        pl.DataFrame(metrics, schema=METRIC_COLUMNS, orient="row"),
        pl.DataFrame(list(clusters), schema=CLUSTER_SCHEMA, orient="row"),
        7,
    )
    return compute_plan(inputs, SupplySettings.model_validate(settings), TODAY).to_dicts()


def test_units_bring_cover_to_the_target_after_the_lead_time() -> None:
    # 10 orders in 7 days (10/7 a day), 5 in stock, WB lead time 7: 10/7 × 30 − max(0, 5 − 10) = 42.86 → 43.
    [row] = plan([("wildberries", 1, "A", "t", "Коледино", "FBO", 5, 10)])
    assert row["units_to_ship"] == 43 and row["daily_rate"] == 1.43 and row["rate_source"] == "orders_7d"
    assert row["days_of_cover"] == 3.5 and row["runs_out_on"] == TODAY + timedelta(days=3)
    assert row["last_day_to_ship"] == TODAY - timedelta(days=4) and row["urgency"] == "overdue"


def test_no_floating_point_dust_adds_a_unit() -> None:
    # 7 a week = exactly 1 a day; stock covers the lead time exactly: 30 − (7 − 7) = 30, not 31.
    [row] = plan([("wildberries", 1, "A", "t", "Коледино", "FBO", 7, 7)])
    assert row["units_to_ship"] == 30


@pytest.mark.parametrize(("multiple", "units"), [(1, 43), (10, 50), (12, 48), (43, 43), (100, 100)])
def test_units_round_up_to_the_box_multiple(multiple: int, units: int) -> None:
    boxes = [{"marketplace": "wildberries", "product_id": 1, "multiple": multiple}]
    [row] = plan([("wildberries", 1, "A", "t", "Коледино", "FBO", 5, 10)], box_multiples=boxes)
    assert (row["units_to_ship"], row["box_multiple"]) == (units, multiple)


def test_nothing_to_ship_when_enough_is_there_or_on_the_way() -> None:
    # Ozon: 1/day, 10 there + 15 in transit + 20 requested = 45 ≥ 1 × (10 + 30): 0, though cover is 10 days.
    rows = plan(
        [("ozon", 5, "O", "t", "ХОРУГВИНО", "FBO", 10, 7)],
        [(5, "ХОРУГВИНО", "Москва", 15, 20, 1.0)],
    )
    assert [(r["destination"], r["units_to_ship"], r["urgency"]) for r in rows] == [("Москва", 0, "ok")]
    # Nothing sells: nothing to ship, no dates.
    [idle] = plan([("wildberries", 1, "A", "t", "Коледино", "FBO", 5, 0)])
    assert (idle["units_to_ship"], idle["runs_out_on"], idle["days_of_cover"], idle["urgency"]) == (
        0,
        None,
        None,
        "ok",
    )


def test_ozon_clusters_pool_their_warehouses_and_use_ozons_rate() -> None:
    rows = plan(
        [
            ("ozon", 5, "O", "t", "ХОРУГВИНО", "FBO", 20, 3),
            ("ozon", 5, "O", "t", "ПУШКИНО", "FBO", 8, 0),
            ("ozon", 5, "O", "t", "КАЗАНЬ", "FBO", 10, 7),  # no analytics row: the orders window
        ],
        [(5, "ХОРУГВИНО", "Москва", 10, 5, 2.0), (5, "ПУШКИНО", "Москва", 0, 0, 2.0)],
    )
    by = {r["destination"]: r for r in rows}
    assert (by["Москва"]["available"], by["Москва"]["in_transit"], by["Москва"]["requested"]) == (28, 10, 5)
    assert (by["Москва"]["daily_rate"], by["Москва"]["rate_source"]) == (2.0, "ozon_ads_28d")
    assert by["Москва"]["units_to_ship"] == 37  # 60 − (43 − 20)
    assert (by["КАЗАНЬ"]["daily_rate"], by["КАЗАНЬ"]["rate_source"]) == (1.0, "orders_7d")


def test_wb_pools_its_warehouses_once_wb_reports_them_aggregated() -> None:
    detailed = plan(
        [
            ("wildberries", 1, "A", "t", "Коледино", "FBO", 10, 14),
            ("wildberries", 1, "A", "t", "Казань", "FBO", 70, 7),
        ]
    )
    assert sorted(r["destination"] for r in detailed) == ["Казань", "Коледино"]
    pooled = plan(
        [
            ("wildberries", 1, "A", "t", "Коледино", "FBO", 10, 0),
            ("wildberries", 1, "A", "t", "Склад WB", "FBO", 70, 21),
            ("wildberries", 1, "A", "t", "Мой склад", "FBS", 5, 7),
        ]
    )
    assert [(r["destination"], r["available"], r["daily_rate"]) for r in pooled] == [
        ("Мой склад (FBS)", 5, 1.0),
        ("Склад WB", 80, 3.0),
    ]


def test_exclusions_lead_times_and_target_change_the_plan_and_order_follows_urgency() -> None:
    metrics = [
        ("wildberries", 1, "A", "t", "Коледино", "FBO", 20, 7),  # 1/day, runs out in 20 days
        ("wildberries", 2, "B", "t", "Коледино", "FBO", 5, 7),  # runs out in 5
        ("wildberries", 3, "C", "t", "Коледино", "FBO", 12, 7),  # runs out in 12
        ("wildberries", 4, "D", "t", "Мой склад", "FBS", 3, 7),  # FBS, lead 2
    ]
    rows = plan(metrics)
    assert [
        (r["article"], r["last_day_to_ship"] - TODAY, r["units_to_ship"], r["urgency"]) for r in rows
    ] == [
        ("B", timedelta(days=-2), 30, "overdue"),
        ("D", timedelta(days=1), 29, "urgent"),
        ("C", timedelta(days=5), 25, "urgent"),
        ("A", timedelta(days=13), 17, "planned"),
    ]
    changed = plan(
        metrics,
        target_cover_days=10,
        lead_times={"wildberries": 3, "ozon": 10, "fbs": 1},
        destination_lead_times=[{"marketplace": "wildberries", "destination": "Коледино", "days": 14}],
        excluded_products=[{"marketplace": "wildberries", "product_id": 2}],
    )
    by = {r["article"]: r for r in changed}
    assert "B" not in by
    assert (by["C"]["lead_time_days"], by["C"]["units_to_ship"]) == (14, 10)  # 10 − max(0, 12 − 14)
    assert (by["A"]["lead_time_days"], by["A"]["units_to_ship"]) == (14, 4)  # 10 − (20 − 14)
    assert (by["D"]["lead_time_days"], by["D"]["units_to_ship"]) == (1, 8)  # 10 − (3 − 1)
    assert [r["article"] for r in urgent_rows(compute_plan_frame(metrics))] == ["B", "D", "C"]


def compute_plan_frame(metrics: list[tuple[Any, ...]]) -> pl.DataFrame:
    inputs = build_inputs(
        pl.DataFrame(metrics, schema=METRIC_COLUMNS, orient="row"), pl.DataFrame(schema=CLUSTER_SCHEMA), 7
    )
    return compute_plan(inputs, SupplySettings(), TODAY)


def test_products_the_guard_flags_are_marked_in_doubt() -> None:
    metrics = pl.DataFrame(
        [("ozon", 5, "O", "t", "W", "FBO", 3, 7), ("ozon", 6, "P", "t", "W", "FBO", 3, 7)],
        schema=METRIC_COLUMNS,
        orient="row",
    )
    doubtful = pl.DataFrame({"marketplace": ["ozon"], "product_id": [6]})
    inputs = build_inputs(metrics, pl.DataFrame(schema=CLUSTER_SCHEMA), 7, doubtful)
    plan = compute_plan(inputs, SupplySettings(), TODAY)
    assert dict(zip(plan["product_id"], plan["in_doubt"], strict=True)) == {5: False, 6: True}

"""The sheet grid (DESIGN §6): groups, order, totals, turnover, labels — and the real WB export."""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sandbox.export import FBS_NAME, cabinet_export_expectations
from warehouse.sheet_layout import PSEUDO_WAREHOUSES, SheetGrid, build_grid, to_sheets_rows

# ../shared beside the repository (as in CI); a missing file fails the tests that read it.
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
EXPORT = SHARED / "data" / "wb-cabinet-stock-history-2025-10-22_28.csv"


def metric(
    product_id: int,
    warehouse: str,
    kind: str = "FBO",
    *,
    stock: int = 0,
    orders: int = 0,
    to_client: int = 0,
    from_client: int = 0,
    article: str | None = None,
    marketplace: str = "wildberries",
) -> dict[str, Any]:
    """One `Mart.current_stock()` row."""
    return {
        "marketplace": marketplace,
        "window_days": 7,
        "product_id": product_id,
        "article": article if article is not None else f"art-{product_id}",
        "brand": "Brand",
        "subject": "Subject",
        "title": "Title",
        "warehouse_name": warehouse,
        "warehouse_kind": kind,
        "stock": stock,
        "in_way_to_client": to_client,
        "in_way_from_client": from_client,
        "orders": orders,
        "days_of_cover": None,
    }


def grid_of(rows: list[dict[str, Any]], **kwargs: Any) -> SheetGrid:
    kwargs.setdefault("marketplace", "wildberries")
    return build_grid(pl.DataFrame(rows), **kwargs)


def turnover(stock: int, orders: int, days: int = 7) -> float | None:
    """The rule written out independently: stock × N ÷ orders, one decimal, halves away from 0."""
    if orders == 0:
        return None
    return float((Decimal(stock * days) / Decimal(orders)).quantize(Decimal("0.1"), ROUND_HALF_UP))


def cell(grid: SheetGrid, row: list[Any], group: str, offset: int) -> Any:
    """A product's stock (0), orders (1) or turnover (2) in the group labelled `group`."""
    return row[9 + 3 * grid.groups.index(group) + offset]


def assert_rows_add_up(grid: SheetGrid) -> None:
    for row in grid.rows:
        stocks = [row[9 + 3 * g] for g in range(len(grid.groups))]
        orders = [row[10 + 3 * g] for g in range(len(grid.groups))]
        assert row[6] == sum(orders) and row[7] == sum(stocks)
        assert row[8] == turnover(row[7], row[6])
        for s, o, t in zip(stocks, orders, row[11::3], strict=True):
            assert t == turnover(s, o)


def test_fbo_groups_in_russian_order_then_fbs_labelled() -> None:
    names = ["Электросталь", "коледино", "Ёлкино", "Екатеринбург", "Алексин", "Жуковский", "Ясногорск"]
    rows = [metric(1, name, stock=1) for name in names]
    rows += [metric(1, "Склад продавца", "FBS", stock=2), metric(1, "Арбат", "FBS", orders=1)]
    grid = grid_of(rows)
    assert grid.groups == [
        "Алексин",
        "Екатеринбург",
        "Ёлкино",  # ё sorts with е: after "Екат…", before "Жук…"
        "Жуковский",
        "коледино",  # case-insensitive
        "Электросталь",
        "Ясногорск",
        "Арбат (FBS)",  # FBS after every marketplace warehouse, alphabetical among themselves
        "Склад продавца (FBS)",
    ]
    assert grid.top_header[9::3] == grid.groups
    assert all(caption == "" for c, caption in enumerate(grid.top_header) if c >= 9 and (c - 9) % 3)


def test_same_name_as_fbo_and_fbs_gives_two_groups() -> None:
    grid = grid_of([metric(1, "Казань", stock=1), metric(1, "Казань", "FBS", stock=4)])
    assert grid.groups == ["Казань", "Казань (FBS)"]
    assert cell(grid, grid.rows[0], "Казань", 0) == 1
    assert cell(grid, grid.rows[0], "Казань (FBS)", 0) == 4


def test_groups_only_where_some_product_has_stock_or_orders() -> None:
    grid = grid_of(
        [
            metric(1, "Коледино", stock=3),
            metric(2, "Коледино"),  # zeros here, but product 1 makes the group
            metric(1, "Казань", orders=2),  # orders alone earn a group
            metric(1, "Тула"),  # nobody has anything: no group
            metric(2, "Тула", to_client=5),  # in-way alone does not earn one either
            metric(2, "Маркетплейс", "FBS"),
        ]
    )
    assert grid.groups == ["Казань", "Коледино"]
    assert grid.width == 9 + 3 * 2 == len(grid.header) == len(grid.top_header)
    assert all(len(row) == grid.width for row in grid.rows)


def test_pseudo_and_transit_rows_never_become_groups() -> None:
    rows = [metric(1, name, stock=7, orders=1) for name in sorted(PSEUDO_WAREHOUSES)]
    rows += [
        metric(1, "", "TRANSIT", to_client=4, from_client=1),
        metric(1, "", "TRANSIT", to_client=2),  # another size
        metric(1, "Коледино", stock=3, orders=1, to_client=1),
    ]
    grid = grid_of(rows)
    assert grid.groups == ["Коледино"]
    # In-way counts every real row of the product, TRANSIT included; pseudo rows are WB's own
    # summaries of those and would count them twice.
    assert grid.rows[0][4:9] == [7, 1, 1, 3, 21.0]


def test_wb_aggregated_reporting_pairs_stock_and_orders_in_one_group() -> None:
    # WB since 2026-08-15: stock under the remains' aggregates and the names it still reports
    # (Коледино, non-RF Минск), orders only as `Склад WB`; seller warehouses by name.
    rows = [
        metric(1, "Склад WB РФ", stock=100),
        metric(1, "Склад WB СГТ РФ", stock=10),
        metric(1, "Коледино", stock=50),
        metric(1, "Минск", stock=5),
        metric(1, "Склад WB", orders=30),
        metric(1, "Fulllog", "FBS", stock=7, orders=2),
        metric(1, "", "TRANSIT", to_client=3, from_client=1),
        metric(2, "Коледино", stock=4),
        metric(2, "Склад WB", orders=1),
        metric(3, "Склад WB", orders=2),  # sold out everywhere on WB: a true zero
    ]
    grid = grid_of(rows)
    assert grid.groups == ["Склад WB", "Fulllog (FBS)"]
    first, second, third = grid.rows
    assert [cell(grid, first, "Склад WB", i) for i in range(3)] == [165, 30, 38.5]  # 165 × 7 ÷ 30
    assert [cell(grid, first, "Fulllog (FBS)", i) for i in range(3)] == [7, 2, 24.5]
    assert first[4:9] == [3, 1, 32, 172, turnover(172, 32)]  # totals: every unit and order, once
    assert [cell(grid, second, "Склад WB", i) for i in range(3)] == [4, 1, 28.0]
    assert [cell(grid, third, "Склад WB", i) for i in range(3)] == [0, 2, 0.0]
    assert_rows_add_up(grid)


@pytest.mark.parametrize("aggregate", ["Склад WB", "Склад WB РФ", "Склад WB СГТ РФ"])
def test_any_aggregate_name_pools_every_wb_warehouse(aggregate: str) -> None:
    grid = grid_of([metric(1, aggregate, stock=3), metric(2, "Коледино", orders=1, stock=1)])
    assert grid.groups == ["Склад WB"]
    assert [row[9:11] for row in grid.rows] == [[3, 0], [1, 1]]


def test_named_warehouses_alone_keep_their_groups() -> None:
    # Detailed reporting (before 2026-08-15), and Ozon whatever its warehouses are called.
    grid = grid_of([metric(1, "Коледино", stock=3), metric(1, "Казань", orders=1)])
    assert grid.groups == ["Казань", "Коледино"]
    ozon = [
        metric(1, "Склад WB", stock=3, marketplace="ozon"),
        metric(1, "ХОРУГВИНО_РФЦ", stock=1, marketplace="ozon"),
    ]
    assert grid_of(ozon, marketplace="ozon").groups == ["Склад WB", "ХОРУГВИНО_РФЦ"]


def test_a_product_with_nothing_anywhere_still_has_a_row() -> None:
    rows = [
        metric(1, "Коледино", stock=3, orders=1),
        metric(2, "", "TRANSIT"),  # what the stock model writes for a product with no stock or orders
        metric(3, "Остальные", orders=1),  # only at a pseudo-warehouse: no group, still a row
    ]
    grid = grid_of(rows)
    assert grid.groups == ["Коледино"]
    assert [row[3:] for row in grid.rows] == [
        [1, 0, 0, 1, 3, 21.0, 3, 1, 21.0],
        *[[p, 0, 0, 0, 0, None, 0, 0, None] for p in (2, 3)],
    ]


def test_pseudo_names_match_the_wb_pipeline() -> None:
    from pipelines.wildberries.settings import REMAINS_PSEUDO

    assert PSEUDO_WAREHOUSES == REMAINS_PSEUDO


def test_totals_are_sums_of_groups_and_turnover_rounds() -> None:
    grid = grid_of(
        [
            metric(1, "Коледино", stock=10, orders=3),  # 23.33 → 23.3
            metric(1, "Казань", stock=5, orders=2),  # 17.5
            metric(1, "Маркетплейс", "FBS", stock=23, orders=20),  # 8.05: exact half → 8.1
            metric(2, "Коледино", stock=0, orders=4),  # no stock, selling: 0.0 (not empty)
            metric(2, "Казань", stock=9, orders=0),  # no orders: empty
            metric(3, "Казань", stock=1, orders=6),  # 1.1666 → 1.2
        ]
    )
    assert_rows_add_up(grid)
    first, second, third = grid.rows
    assert cell(grid, first, "Коледино", 2) == 23.3
    assert cell(grid, first, "Казань", 2) == 17.5
    assert cell(grid, first, "Маркетплейс (FBS)", 2) == 8.1
    assert first[6:9] == [25, 38, 10.6]  # 38 × 7 ÷ 25 = 10.64
    assert cell(grid, second, "Коледино", 2) == 0.0
    assert cell(grid, second, "Казань", 2) is None
    assert second[6:9] == [4, 9, 15.8]
    assert cell(grid, third, "Казань", 2) == 1.2


def test_turnover_uses_the_window() -> None:
    grid = grid_of([metric(1, "Коледино", stock=10, orders=3)], window_days=30)
    assert grid.rows[0][8] == 100.0 and grid.window_days == 30


def test_numbers_stay_numbers_and_zero_is_zero() -> None:
    grid = grid_of([metric(1, "Коледино", stock=0, orders=1), metric(2, "Коледино", stock=1)])
    zero_stock = cell(grid, grid.rows[0], "Коледино", 0)
    assert zero_stock == 0 and type(zero_stock) is int
    for row in grid.rows:
        assert type(row[3]) is int  # the product id
        assert all(type(v) is int for v in row[4:8])
        assert all(type(row[c]) in (float, type(None)) for c in grid.turnover_columns)
        assert all(type(row[c]) is int for c in grid.count_columns)


def test_products_sorted_by_article_then_id() -> None:
    grid = grid_of(
        [
            metric(5, "Коледино", stock=1, article="b-2"),
            metric(3, "Коледино", stock=1, article="A-1"),
            metric(1, "Коледино", stock=1, article="b-2"),
            metric(4, "Коледино", stock=1, article="a-0"),
            metric(2, "", "TRANSIT", to_client=1, article="ё"),  # only in transit: still a row
        ]
    )
    assert [(row[2], row[3]) for row in grid.rows] == [
        ("a-0", 4),
        ("A-1", 3),
        ("b-2", 1),
        ("b-2", 5),
        ("ё", 2),
    ]
    assert grid.rows[-1][4:9] == [1, 0, 0, 0, None]


def test_layout_width_merges_and_column_roles() -> None:
    grid = grid_of([metric(1, name, stock=1) for name in ("А", "Б", "В")])
    assert grid.width == 9 + 3 * 3 == 18
    assert grid.merges == [(0, 3), (4, 8), (9, 11), (12, 14), (15, 17)]
    assert grid.top_header[:9] == ["Основная информация", "", "", "", "Общие метрики", "", "", "", ""]
    assert grid.header[:9] == [
        "Бренд",
        "Предмет",
        "Артикул продавца",
        "Артикул товара (nmid)",
        "В пути до покупателя",
        "В пути конв. на склад WB",
        "Заказы (всего)",
        "Остатки (всего)",
        "Оборачиваемость (дни)",
    ]
    assert grid.header[9:] == ["Остатки", "Заказы", "Оборач."] * 3
    assert grid.count_columns == [4, 5, 6, 7, 9, 10, 12, 13, 15, 16]
    assert grid.turnover_columns == [8, 11, 14, 17]
    assert grid.group_starts == [4, 9, 12, 15]
    assert grid.title == "Wildberries" and grid.locale == "ru" and grid.low_stock_days == 14


def test_ozon_labels() -> None:
    grid = grid_of([metric(1, "Хоругвино", stock=1, marketplace="ozon")], marketplace="ozon")
    assert grid.title == "Ozon"
    assert grid.header[3:6] == ["SKU", "В пути до покупателя", "В пути возвраты на склад"]
    assert not any("WB" in label for label in grid.header)


def test_english_locale_same_grid_english_labels() -> None:
    rows = [metric(1, "Коледино", stock=2, orders=1), metric(1, "Маркетплейс", "FBS", stock=1)]
    ru, en = grid_of(rows), grid_of(rows, locale="en")
    assert en.rows == ru.rows and en.merges == ru.merges and en.groups == ru.groups
    groups = ["Коледино", "", "", "Маркетплейс (FBS)", "", ""]
    assert en.top_header == ["Main info", "", "", "", "Totals", "", "", "", "", *groups]
    assert en.header == [
        "Brand",
        "Subject",
        "Seller article",
        "Product id (nmID)",
        "In transit to buyers",
        "Returns in transit",
        "Orders (total)",
        "Stock (total)",
        "Turnover (days)",
        *["Stock", "Orders", "Turnover"] * 2,
    ]
    ozon = grid_of([metric(1, "Хоругвино", stock=1, marketplace="ozon")], marketplace="ozon", locale="en")
    assert ozon.header[3] == "SKU"
    with pytest.raises(ValueError, match="locale"):
        grid_of(rows, locale="de")


def test_empty_input_gives_no_rows() -> None:
    for frame in (pl.DataFrame(), pl.DataFrame([metric(1, "Коледино")]).clear()):
        grid = build_grid(frame, marketplace="wildberries")
        assert grid.rows == [] and grid.groups == [] and grid.width == 9
        assert len(grid.header) == 9 and grid.merges == [(0, 3), (4, 8)]
        assert len(to_sheets_rows(grid)) == 2  # headers only


def test_other_marketplaces_rows_are_ignored() -> None:
    rows = [metric(1, "Коледино", stock=1), metric(2, "Хоругвино", stock=5, marketplace="ozon")]
    grid = grid_of(rows)
    assert grid.groups == ["Коледино"] and len(grid.rows) == 1


def test_digest_changes_only_with_what_is_written() -> None:
    rows = [metric(1, "Коледино", stock=2, orders=1), metric(2, "Казань", stock=1)]
    base = grid_of(rows)
    assert base.digest() == grid_of(list(reversed(rows))).digest()  # input order does not matter
    assert base.digest() == grid_of(rows, window_days=7).digest()
    changed = [metric(1, "Коледино", stock=3, orders=1), rows[1]]
    assert grid_of(changed).digest() != base.digest()
    assert grid_of(rows, low_stock_days=7).digest() != base.digest()  # the highlight changes
    assert grid_of(rows, locale="en").digest() != base.digest()


def test_sheets_rows_are_typed_cells() -> None:
    grid = grid_of([metric(1, "Коледино", stock=0, orders=0), metric(2, "Коледино", stock=2)])
    header, labels, row, _ = to_sheets_rows(grid)
    assert header["values"][0] == {"userEnteredValue": {"stringValue": "Основная информация"}}
    assert header["values"][1] == {}  # inside a merge
    assert labels["values"][0] == {"userEnteredValue": {"stringValue": "Бренд"}}
    values = row["values"]
    assert values[3] == {"userEnteredValue": {"numberValue": 1}}
    assert values[8] == {}  # no orders: empty turnover, which also clears an old value
    assert values[cell_index(grid, "Коледино", 0)] == {"userEnteredValue": {"numberValue": 0}}


def cell_index(grid: SheetGrid, group: str, offset: int) -> int:
    return 9 + 3 * grid.groups.index(group) + offset


def export_metrics(path: Path) -> tuple[pl.DataFrame, dict[tuple[int, str], dict[str, int]]]:
    """The cabinet export as the stock model: sizes summed per product × warehouse, in-way as one
    TRANSIT row per product (as WB reports it per size), `Маркетплейс` as the FBS warehouse."""
    per_warehouse: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (nm_id, _size, warehouse), numbers in cabinet_export_expectations(path).items():
        for key, value in numbers.items():
            per_warehouse[nm_id, warehouse][key] += value
    attributes = (
        pl.read_csv(path, skip_rows=1, infer_schema=False)
        .select(
            pl.col("Артикул WB").cast(pl.Int64).alias("product_id"),
            pl.col("Артикул продавца").alias("article"),
            pl.col("Бренд").alias("brand"),
            pl.col("Предмет").alias("subject"),
        )
        .unique("product_id")
    )
    rows = []
    for (nm_id, warehouse), numbers in per_warehouse.items():
        kind = "FBS" if warehouse == FBS_NAME else "FBO"
        rows.append(
            {"product_id": nm_id, "warehouse_name": warehouse, "warehouse_kind": kind}
            | {"stock": numbers["stock"], "orders": numbers["orders"]}
            | {"in_way_to_client": 0, "in_way_from_client": 0}
        )
        rows.append(
            {"product_id": nm_id, "warehouse_name": "", "warehouse_kind": "TRANSIT", "stock": 0, "orders": 0}
            | {"in_way_to_client": numbers["in_way_to_client"]}
            | {"in_way_from_client": numbers["in_way_from_client"]}
        )
    metrics = pl.DataFrame(rows).join(attributes, on="product_id", how="left")
    return metrics.with_columns(pl.lit("wildberries").alias("marketplace")), per_warehouse


def test_real_wb_cabinet_export_reproduced() -> None:
    metrics, expected = export_metrics(EXPORT)
    grid = build_grid(metrics, marketplace="wildberries", window_days=7)

    products = {nm_id for nm_id, _ in expected}
    used = {w for (_, w), n in expected.items() if (n["stock"] or n["orders"]) and w not in PSEUDO_WAREHOUSES}
    # The cabinet lists one order at "Остальные" (WB's bucket for other warehouses): a pseudo row,
    # no group, so it is in no total either — totals are the sums of the groups.
    assert {w for (_, w), n in expected.items() if n["orders"] and w in PSEUDO_WAREHOUSES} == {"Остальные"}
    assert len(grid.rows) == len(products) == 13
    assert grid.groups[-1] == f"{FBS_NAME} (FBS)"
    assert {g.removesuffix(" (FBS)") for g in grid.groups} == used
    assert grid.width == 9 + 3 * len(used)

    by_product = {row[3]: row for row in grid.rows}
    for (nm_id, warehouse), numbers in expected.items():
        if warehouse not in used:
            continue
        label = f"{warehouse} (FBS)" if warehouse == FBS_NAME else warehouse
        row = by_product[nm_id]
        assert cell(grid, row, label, 0) == numbers["stock"], (nm_id, warehouse)
        assert cell(grid, row, label, 1) == numbers["orders"], (nm_id, warehouse)
        assert cell(grid, row, label, 2) == turnover(numbers["stock"], numbers["orders"])
    for nm_id, row in by_product.items():
        everywhere = [n for (p, _), n in expected.items() if p == nm_id]
        mine = [n for (p, w), n in expected.items() if p == nm_id and w in used]
        assert row[4] == sum(n["in_way_to_client"] for n in everywhere)
        assert row[5] == sum(n["in_way_from_client"] for n in everywhere)
        assert row[6] == sum(n["orders"] for n in mine)
        assert row[7] == sum(n["stock"] for n in mine)
    assert_rows_add_up(grid)
    articles = [(row[2].lower(), row[3]) for row in grid.rows]
    assert articles == sorted(articles)
    # The README's shape: most of the stock is the seller's own (FBS).
    fbs_stock = sum(cell(grid, row, f"{FBS_NAME} (FBS)", 0) for row in grid.rows)
    assert fbs_stock / sum(row[7] for row in grid.rows) > 0.8

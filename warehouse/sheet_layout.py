"""The horizontal sheet (DESIGN §6) as a grid: products as rows, warehouses as 3-column groups.

One pure function from the stock model to cells, shared by every output (Google Sheets, XLSX, CSV):
the outputs only apply `STYLE` and the grid's column roles, they never decide what a cell holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import orjson
import polars as pl

from warehouse.warehouse_groups import FBS_SUFFIX, WB_POOLED_GROUP, pools_wb_warehouses

Cell = str | int | float | None

HEADER_ROWS = 2
INFO_COLUMNS = 4  # A–D
TOTAL_COLUMNS = 5  # E–I
GROUP_COLUMNS = 3  # stock, orders, turnover per warehouse

# The note below the products (SheetGrid.note): two lines of wrapped text. Not in SheetStyle, whose
# fields are hashed into every grid's digest: a grid without a note publishes as before.
NOTE_ROW_HEIGHT_PX = 40

TITLES = {"wildberries": "Wildberries", "ozon": "Ozon"}

# WB's warehouse_remains pseudo-rows (pipelines/wildberries/settings.py REMAINS_PSEUDO): totals and
# transit summaries, never places. Repeated here so the layout does not import the dlt pipeline; a
# test keeps both sets equal. They are dropped whole: their counts already live in real rows.
PSEUDO_WAREHOUSES = frozenset(
    {"В пути до получателей", "В пути возвраты на склад WB", "Всего находится на складах", "Остальные"}
)

_LABELS: dict[str, dict[str, Any]] = {
    "ru": {
        "top": ("Основная информация", "Общие метрики"),
        "info": ("Бренд", "Предмет", "Артикул продавца"),
        "product_id": {"wildberries": "Артикул товара (nmid)", "ozon": "SKU"},
        "in_way": {
            "wildberries": ("В пути до покупателя", "В пути конв. на склад WB"),
            "ozon": ("В пути до покупателя", "В пути возвраты на склад"),
        },
        "totals": ("Заказы (всего)", "Остатки (всего)", "Оборачиваемость (дни)"),
        "group": ("Остатки", "Заказы", "Оборач."),
    },
    "en": {
        "top": ("Main info", "Totals"),
        "info": ("Brand", "Subject", "Seller article"),
        "product_id": {"wildberries": "Product id (nmID)", "ozon": "SKU"},
        "in_way": {
            "wildberries": ("In transit to buyers", "Returns in transit"),
            "ozon": ("In transit to buyers", "Returns in transit"),
        },
        "totals": ("Orders (total)", "Stock (total)", "Turnover (days)"),
        "group": ("Stock", "Orders", "Turnover"),
    },
}

_SCHEMA: dict[str, type[pl.DataType]] = {
    "product_id": pl.Int64,
    "article": pl.String,
    "brand": pl.String,
    "subject": pl.String,
    "warehouse_name": pl.String,
    "warehouse_kind": pl.String,
    "stock": pl.Int64,
    "in_way_to_client": pl.Int64,
    "in_way_from_client": pl.Int64,
    "orders": pl.Int64,
}
_COUNTS = ("stock", "in_way_to_client", "in_way_from_client", "orders")


@dataclass(frozen=True)
class SheetStyle:
    """How the grid looks, in one place so Google Sheets and XLSX render it the same way."""

    header_fill: str = "#667DEB"
    header_font_color: str = "#FFFFFF"
    header_font_size: int = 10
    header_bold: bool = True
    header_wrap: bool = True  # centred both ways
    row_heights_px: tuple[int, int] = (35, 40)
    frozen_rows: int = 2
    frozen_columns: int = INFO_COLUMNS
    count_format: str = "#,##0"
    turnover_format: str = "0.0"
    # Low stock: a fill rather than a red font, so a highlighted cell reads at a glance on any
    # zoom level; #F4CCCC is Google Sheets' own "light red 3", so both outputs match.
    low_stock_fill: str = "#F4CCCC"
    group_border: str = "thick"  # left edge of every block (E, then each warehouse group)
    info_widths_px: tuple[int, ...] = (120, 170, 150, 110)
    total_width_px: int = 100
    group_width_px: int = 70

    def column_widths_px(self, width: int) -> list[int]:
        totals = [self.total_width_px] * TOTAL_COLUMNS
        groups = [self.group_width_px] * (width - INFO_COLUMNS - TOTAL_COLUMNS)
        return [*self.info_widths_px, *totals, *groups]


STYLE = SheetStyle()


@dataclass(frozen=True)
class SheetGrid:
    """Everything one worksheet shows; `rows` hold plain numbers (never text) and None for empty."""

    marketplace: str
    title: str
    top_header: list[str]
    header: list[str]
    rows: list[list[Cell]]
    groups: list[str]
    merges: list[tuple[int, int]]
    count_columns: list[int]
    turnover_columns: list[int]
    group_starts: list[int]
    low_stock_days: int
    window_days: int
    locale: str
    # Said below the product rows (after one empty row), e.g. how many products the plan left out:
    # never in the two header rows or a product row, so every reader of the grid keeps working.
    note: str | None = None

    @property
    def width(self) -> int:
        return INFO_COLUMNS + TOTAL_COLUMNS + GROUP_COLUMNS * len(self.groups)

    @property
    def footer(self) -> list[list[Cell]]:
        """The rows after the products: none, or an empty row and the note in column A."""
        if not self.note:
            return []
        return [[None] * self.width, [self.note] + [None] * (self.width - 1)]

    @property
    def row_count(self) -> int:
        """Every row written: the two header rows, the products and the footer."""
        return HEADER_ROWS + len(self.rows) + len(self.footer)

    @property
    def note_row(self) -> int | None:
        """The 0-based row index of the note, if any."""
        return self.row_count - 1 if self.note else None

    def digest(self) -> str:
        """A hash of everything written (cells, merges, formats, threshold, style): equal means the
        published sheet is already current and the publish can be skipped."""
        return self._digest

    @cached_property
    def _digest(self) -> str:  # the grid is frozen, so hashing once is enough
        written = {
            "title": self.title,
            "top_header": self.top_header,
            "header": self.header,
            "rows": self.rows,
            "merges": self.merges,
            "count_columns": self.count_columns,
            "turnover_columns": self.turnover_columns,
            "group_starts": self.group_starts,
            "low_stock_days": self.low_stock_days,
            "style": asdict(STYLE),
        }
        if self.note:  # only when set: grids without a note keep the digests already published
            written["note"] = self.note
        return hashlib.sha256(orjson.dumps(written)).hexdigest()


def _collation_key(column: str) -> pl.Expr:
    # Russian alphabetical order: Cyrillic code points already run а…я except ё, which sorts with е.
    return pl.col(column).str.to_lowercase().str.replace_all("ё", "е", literal=True)


def _turnover(stock: pl.Expr, orders: pl.Expr, days: int) -> pl.Expr:
    """stock × days ÷ orders in days, one decimal, half away from zero (as SQL `round(numeric, 1)`);
    null when there are no orders. Integer arithmetic, so 1.15 never becomes 1.1 by float error."""
    tenths = (stock.abs() * (20 * days) + orders) // (2 * orders)
    signed = pl.when(stock < 0).then(-tenths).otherwise(tenths)
    # Polars divides by a literal as a multiplication (106 / 10 → 10.600000000000001): round(1)
    # lands on the double nearest to tenths / 10, the same float Python and JSON write as 10.6.
    return pl.when(orders > 0).then((signed / 10).round(1)).otherwise(None)


def _normalized(metrics: pl.DataFrame, marketplace: str) -> pl.DataFrame:
    if "marketplace" in metrics.columns:
        metrics = metrics.filter(pl.col("marketplace") == marketplace)
    columns = [
        (pl.col(name) if name in metrics.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in _SCHEMA.items()
    ]
    # Pseudo rows stay (flagged): they never make a group or count, but their product keeps its row.
    # (A frame without columns selects one row of literals: no product id, no product.)
    return (
        metrics.select(columns)
        .filter(pl.col("product_id").is_not_null())
        .with_columns(
            pl.col(list(_COUNTS)).fill_null(0),
            pl.col("warehouse_kind").fill_null("FBO"),
            pl.col("warehouse_name").is_in(list(PSEUDO_WAREHOUSES)).fill_null(False).alias("_pseudo"),
        )
    )


def _placed(frame: pl.DataFrame, marketplace: str) -> pl.DataFrame:
    """Stock and orders per product × group (DESIGN §4): the real warehouse rows, under the name of
    the group that pairs their stock with their orders (warehouse/warehouse_groups.py)."""
    real = frame.filter(~pl.col("_pseudo") & (pl.col("warehouse_kind") != "TRANSIT"))
    places = real.select("warehouse_kind", "warehouse_name").unique().iter_rows()
    if pools_wb_warehouses(marketplace, places):
        real = real.with_columns(
            pl.when(pl.col("warehouse_kind") == "FBS")
            .then(pl.col("warehouse_name"))
            .otherwise(pl.lit(WB_POOLED_GROUP))
            .alias("warehouse_name")
        )
    return (
        real.with_columns((pl.col("warehouse_kind") == "FBS").cast(pl.Int8).alias("_fbs"))
        .group_by("product_id", "_fbs", "warehouse_name")
        .agg(pl.col("stock").sum(), pl.col("orders").sum())
    )


def _header(marketplace: str, locale: str, groups: list[str]) -> tuple[list[str], list[str]]:
    labels = _LABELS[locale]
    main, totals = labels["top"]
    top = [main, "", "", "", totals, "", "", "", ""]
    row = [*labels["info"], labels["product_id"][marketplace], *labels["in_way"][marketplace]]
    row += labels["totals"]
    for name in groups:
        top += [name, "", ""]
        row += labels["group"]
    return top, row


def build_grid(
    metrics: pl.DataFrame,
    *,
    marketplace: str,
    locale: str = "ru",
    window_days: int = 7,
    low_stock_days: int = 14,
    note: str | None = None,
) -> SheetGrid:
    """The sheet of one marketplace from `Mart.current_stock()` rows (other marketplaces' rows are
    ignored). An empty frame gives a grid with headers and no rows; callers refuse to publish it."""
    if marketplace not in TITLES:
        raise ValueError(f"unknown marketplace {marketplace!r}; one of {', '.join(TITLES)}")
    if locale not in _LABELS:
        raise ValueError(f"unknown locale {locale!r}; one of {', '.join(_LABELS)}")
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    frame = _normalized(metrics, marketplace)

    # Every product of the model gets a row (DESIGN §6), also one with nothing anywhere (the stock
    # model gives it a zero transit row) or only at pseudo-warehouses. In-way totals (E, F) count
    # every real row of the product, TRANSIT included: WB reports transit per size, not per
    # warehouse, so it never appears in a group; pseudo rows are WB's summaries of those.
    real = ~pl.col("_pseudo")
    products = (
        frame.group_by("product_id")
        .agg(
            pl.col("brand").max(),
            pl.col("subject").max(),
            pl.col("article").max(),
            pl.col("in_way_to_client").filter(real).sum(),
            pl.col("in_way_from_client").filter(real).sum(),
        )
        .with_columns(_collation_key("article").alias("_key"))
        .sort(["_key", "article", "product_id"], nulls_last=True)
        .with_row_index("_p")
    )

    placed = _placed(frame, marketplace)
    # A warehouse earns a group when any product has stock or orders there; a warehouse left out
    # holds only zeros, so the totals (sums over groups) still add up.
    groups = (
        placed.group_by("_fbs", "warehouse_name")
        .agg(((pl.col("stock") != 0) | (pl.col("orders") != 0)).any().alias("_used"))
        .filter(pl.col("_used"))
        .with_columns(_collation_key("warehouse_name").alias("_key"))
        .sort(["_fbs", "_key", "warehouse_name"])  # marketplace warehouses first, then FBS
        .with_row_index("_g")
        .with_columns(
            pl.when(pl.col("_fbs") == 1)
            .then(pl.col("warehouse_name") + FBS_SUFFIX)
            .otherwise(pl.col("warehouse_name"))
            .alias("label")
        )
    )
    labels: list[str] = groups.sort("_g")["label"].to_list()
    count = len(labels)

    wide = products
    if count:
        cells = placed.join(
            groups.select("_fbs", "warehouse_name", "_g"), on=["_fbs", "warehouse_name"]
        ).join(products.select("product_id", "_p"), on="product_id")
        # Pivot on the group index, one value at a time, so column names are ours (DESIGN §10:
        # a multi-value pivot names and orders columns value-first).
        for value, prefix in (("stock", "s"), ("orders", "o")):
            pivoted = cells.pivot(on="_g", index="_p", values=value, aggregate_function="sum")
            rename = {c: f"{prefix}{c}" for c in pivoted.columns if c != "_p"}
            wide = wide.join(pivoted.rename(rename), on="_p", how="left")
        # Every group has a cell in the pivot (it is used somewhere); a product absent from it is 0.
        wide = wide.with_columns(pl.col(f"{p}{g}").fill_null(0) for g in range(count) for p in "so")

    stocks = [pl.col(f"s{g}") for g in range(count)]
    orders = [pl.col(f"o{g}") for g in range(count)]
    total_stock = pl.sum_horizontal(stocks) if count else pl.lit(0, pl.Int64)
    total_orders = pl.sum_horizontal(orders) if count else pl.lit(0, pl.Int64)
    columns: list[pl.Expr] = [
        pl.col("brand"),
        pl.col("subject"),
        pl.col("article"),
        pl.col("product_id"),
        pl.col("in_way_to_client"),
        pl.col("in_way_from_client"),
        total_orders.cast(pl.Int64).alias("_orders"),
        total_stock.cast(pl.Int64).alias("_stock"),
        _turnover(total_stock, total_orders, window_days).alias("_turnover"),
    ]
    for g in range(count):
        columns += [stocks[g], orders[g], _turnover(stocks[g], orders[g], window_days).alias(f"t{g}")]
    # Joins do not keep row order (DESIGN §10): sort by the product index right before the rows.
    table = wide.sort("_p").select(columns)

    top, header = _header(marketplace, locale, labels)
    starts = [INFO_COLUMNS + TOTAL_COLUMNS + GROUP_COLUMNS * g for g in range(count)]
    return SheetGrid(
        marketplace=marketplace,
        title=TITLES[marketplace],
        top_header=top,
        header=header,
        rows=[list(row) for row in table.rows()],
        groups=labels,
        merges=[(0, INFO_COLUMNS - 1), (INFO_COLUMNS, INFO_COLUMNS + TOTAL_COLUMNS - 1)]
        + [(s, s + GROUP_COLUMNS - 1) for s in starts],
        count_columns=[4, 5, 6, 7] + [c for s in starts for c in (s, s + 1)],
        turnover_columns=[8] + [s + 2 for s in starts],
        group_starts=[INFO_COLUMNS, *starts],
        low_stock_days=low_stock_days,
        window_days=window_days,
        locale=locale,
        note=note,
    )


def to_sheets_rows(grid: SheetGrid) -> list[dict[str, Any]]:
    """Both header rows, every product row and the footer as Sheets API `RowData` for one `updateCells`
    (fields `userEnteredValue`). Strings go as stringValue, so Sheets never parses them as
    formulas or numbers; None and "" as an empty CellData, which clears what an earlier publish
    left there. Formats, merges and borders are separate, O(width) requests.

    Equal values share one (read-only) CellData object: a large grid repeats few distinct values,
    and building a fresh dict per cell costs ~7× more time for 2 M cells.
    """
    empty: dict[str, Any] = {}
    shared: dict[tuple[type, Cell], dict[str, Any]] = {}

    def cell(value: Cell) -> dict[str, Any]:
        if value is None or value == "":
            return empty
        key = (type(value), value)  # typed: 0, 0.0 and False hash alike
        found = shared.get(key)
        if found is None:
            kind = "stringValue" if isinstance(value, str) else "numberValue"
            found = shared[key] = {"userEnteredValue": {kind: value}}
        return found

    every = (grid.top_header, grid.header, *grid.rows, *grid.footer)
    return [{"values": [cell(v) for v in row]} for row in every]

"""The supply plan as a worksheet, `План поставок` (`Supply plan` in English): one row per product ×
destination in plan order, under the same two-row header, colours and number formats as the stock
sheet (DESIGN §6), so the Google Sheets publisher and the XLSX writer render it unchanged.

Columns (A–D frozen): seller article, product id, marketplace, destination | daily rate, rate
source | available, in transit to the destination («В пути на склад»: never orders on their way to
buyers), requested | days of cover (red below the tenant's low-stock threshold), runs out on, lead
time, last day to ship | units to ship, box multiple, urgency, data.
Dates are ISO text (`2026-12-05`): they sort and filter as they read.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from warehouse.sheet_layout import SheetGrid

TITLE = {"ru": "План поставок", "en": "Supply plan"}
_TOP = {
    "ru": ("Товар и направление", "Продажи", "Остатки", "Запас", "Поставка"),
    "en": ("Product and destination", "Sales", "Stock", "Cover", "Supply"),
}
_HEADER = {
    "ru": (
        "Артикул продавца",
        "Артикул (nmID / SKU)",
        "Маркетплейс",
        "Направление",
        "Продажи в день",
        "Источник скорости",
        "Доступно",
        "В пути на склад",
        "В заявках",
        "Дней запаса",
        "Закончится",
        "Срок поставки (дн.)",
        "Отгрузить до",
        "Отгрузить (шт.)",
        "Кратность короба",
        "Срочность",
        "Данные",
    ),
    "en": (
        "Seller article",
        "Product id (nmID / SKU)",
        "Marketplace",
        "Destination",
        "Sales per day",
        "Rate source",
        "Available",
        "Inbound",
        "Requested",
        "Days of cover",
        "Runs out on",
        "Lead time (days)",
        "Ship by",
        "Units to ship",
        "Box multiple",
        "Urgency",
        "Data",
    ),
}
_SECTIONS = (0, 4, 6, 9, 13)  # first column of each top-header block
_WORDS = {
    "ru": {
        "wildberries": "Wildberries",
        "ozon": "Ozon",
        "overdue": "просрочено",
        "urgent": "срочно",
        "planned": "по плану",
        "ok": "хватает",
        "doubt": "под сомнением",
        "ads": "Ozon, 28 дн.",
        "orders": "заказы, {n} дн.",
    },
    "en": {
        "wildberries": "Wildberries",
        "ozon": "Ozon",
        "overdue": "overdue",
        "urgent": "urgent",
        "planned": "planned",
        "ok": "enough",
        "doubt": "in doubt",
        "ads": "Ozon, 28 days",
        "orders": "orders, {n} days",
    },
}


@dataclass(frozen=True)
class PlanGrid(SheetGrid):
    """A SheetGrid whose width is its own column count (not 9 + 3 per warehouse group)."""

    @property
    def width(self) -> int:
        return len(self.header)


def build_plan_grid(plan: pl.DataFrame, *, locale: str, low_stock_days: int, window_days: int) -> PlanGrid:
    words = _WORDS.get(locale, _WORDS["ru"])
    header = list(_HEADER.get(locale, _HEADER["ru"]))
    tops = _TOP.get(locale, _TOP["ru"])
    ends = [*_SECTIONS[1:], len(header)]
    top: list[str] = []
    for caption, start, end in zip(tops, _SECTIONS, ends, strict=True):
        top += [caption] + [""] * (end - start - 1)
    source = pl.col("rate_source")
    table = plan.select(
        pl.col("article"),
        pl.col("product_id"),
        pl.col("marketplace").replace_strict(
            {"wildberries": words["wildberries"], "ozon": words["ozon"]}, default=pl.col("marketplace")
        ),
        pl.col("destination"),
        pl.col("daily_rate"),
        pl.when(source == "ozon_ads_28d")
        .then(pl.lit(words["ads"]))
        .otherwise(pl.lit(words["orders"].format(n=window_days)))
        .alias("source"),
        pl.col("available"),
        pl.col("in_transit"),
        pl.col("requested"),
        pl.col("days_of_cover"),
        pl.col("runs_out_on").cast(pl.String),
        pl.col("lead_time_days"),
        pl.col("last_day_to_ship").cast(pl.String),
        pl.col("units_to_ship"),
        pl.col("box_multiple"),
        pl.col("urgency").replace_strict({k: words[k] for k in ("overdue", "urgent", "planned", "ok")}),
        pl.when(pl.col("in_doubt")).then(pl.lit(words["doubt"])).otherwise(pl.lit("")).alias("data"),
    )
    return PlanGrid(
        marketplace="supply_plan",
        title=TITLE.get(locale, TITLE["ru"]),
        top_header=top,
        header=header,
        rows=[list(row) for row in table.rows()],
        groups=[],
        merges=[(start, end - 1) for start, end in zip(_SECTIONS, ends, strict=True)],
        count_columns=[6, 7, 8, 11, 13, 14],
        turnover_columns=[9],  # days of cover: one decimal, red below the low-stock threshold
        group_starts=list(_SECTIONS[1:]),
        low_stock_days=low_stock_days,
        window_days=window_days,
        locale=locale,
    )

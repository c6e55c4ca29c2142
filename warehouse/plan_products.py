"""The plan's product limit (DESIGN §6a): syncs load every product, but the sheet, files, API and
reports cover the plan's first N products by seller article, and say how many were left out."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from warehouse.plans import PLANS, left_out_note
from warehouse.sheet_layout import SheetGrid, build_grid

KEY = ["article", "marketplace", "product_id"]


def product_key() -> pl.Expr:
    return pl.col("marketplace").cast(pl.Utf8) + ":" + pl.col("product_id").cast(pl.Utf8)


def first_products(frame: pl.DataFrame, limit: int) -> tuple[pl.DataFrame, int]:
    """The rows of the first `limit` products (by seller article, then marketplace and id), in
    their original order, and how many products were left out. `frame` may hold several rows per
    product (one per warehouse)."""
    if frame.is_empty():
        return frame, 0
    products = frame.select(KEY).unique(subset=["marketplace", "product_id"]).sort(KEY, nulls_last=True)
    if products.height <= limit:
        return frame, 0
    kept = products.head(limit).select(product_key().alias("_k"))["_k"]
    return frame.filter(product_key().is_in(kept.implode())), products.height - limit


def grids_for_plan(
    metrics: pl.DataFrame,
    *,
    tier: str,
    marketplaces: Iterable[str],
    locale: str,
    window_days: int,
    low_stock_days: int,
) -> tuple[list[SheetGrid], pl.DataFrame, int]:
    """The sheet of each marketplace, cut to the plan's first N products, each worksheet noting
    how many of its products were left out (below its rows); the rows kept; how many were left
    out in all."""
    kept, left_out = first_products(metrics, PLANS[tier].products)
    grids = []
    for marketplace in marketplaces:
        missing = _products_of(metrics, marketplace) - _products_of(kept, marketplace) if left_out else 0
        grid = build_grid(
            kept,
            marketplace=marketplace,
            locale=locale,
            window_days=window_days,
            low_stock_days=low_stock_days,
            note=left_out_note(locale, tier, missing, left_out) if missing else None,
        )
        grids.append(grid)
    return grids, kept, left_out


def _products_of(frame: pl.DataFrame, marketplace: str) -> int:
    if frame.is_empty():
        return 0
    return frame.filter(pl.col("marketplace") == marketplace)["product_id"].drop_nulls().n_unique()

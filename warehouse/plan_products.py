"""The plan's product limit (DESIGN §6a): syncs load every product, but the sheet, files, API and
reports cover the plan's first N products by seller article, and say how many were left out."""

from __future__ import annotations

import polars as pl

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

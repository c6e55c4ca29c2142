"""The products list's search (warehouse/stock_reads.ProductTotals): a search alone runs its own
substring scan, a search with another filter goes through Polars; both must find the same
products in the same order, whatever the text holds."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
import pytest

from warehouse.stock_reads import PRODUCT_COLUMNS, ProductFilter, ProductTotals

WORDS = ["Крем", "для", "рук", "ШАМПУНЬ", "Mousse", "100%", "a_b", "İstanbul", "ß", "ёлка", "", "x"]


def catalogue(size: int, seed: int) -> ProductTotals:
    rng = random.Random(seed)

    def text() -> str | None:
        return None if rng.random() < 0.1 else " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 3)))

    rows = [
        {
            "marketplace": rng.choice(["wildberries", "ozon"]),
            "product_id": rng.choice([5001, 102, 10_000 + i]),
            "article": f"ART-{i:04d}" if rng.random() < 0.8 else text(),
            "brand": text(),
            "subject": "Subject",
            "title": text(),
            "stock": rng.randint(0, 50),
            "orders": rng.randint(0, 5),
            "in_way_to_client": 0,
            "in_way_from_client": 0,
            "warehouses": 1,
            "window_days": 7,
            "snapshot_at": datetime(2026, 12, 1, tzinfo=UTC),
            "days_of_cover": None,
        }
        for i in range(size)
    ]
    return ProductTotals(pl.DataFrame(rows).select(PRODUCT_COLUMNS))


TERMS = ["art-00", "ART-001", "крем", "КРЕМ ДЛЯ", "ру", "шампунь", "100%", "a_b", "i̇stanbul", "ss", "ß"]
TERMS += ["ёлка", "x", "5001", "102", "0", "рук x", "ART-0199", "nothing", " ", "a\nb", "\x1b"]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("sort", ["article", "-stock", "title"])
def test_a_search_alone_finds_what_the_filtered_search_finds(seed: int, sort: str) -> None:
    totals = catalogue(600, seed)
    for plan in (None, 50):
        for term in TERMS:
            alone = totals.page_rows(ProductFilter(search=term), sort=sort, limit=1000, plan_products=plan)
            # min_stock=0 keeps every product but sends the search through Polars.
            filtered = ProductFilter(search=term, min_stock=0)
            assert alone == totals.page_rows(filtered, sort=sort, limit=1000, plan_products=plan), term
        # A page of a search is that slice of the whole answer.
        whole, total, _ = totals.page_rows(
            ProductFilter(search="art-01"), sort=sort, limit=1000, plan_products=plan
        )
        page = totals.page_rows(
            ProductFilter(search="art-01"), sort=sort, limit=10, offset=5, plan_products=plan
        )
        assert total > 15 and page[:2] == (whole[5:15], total)

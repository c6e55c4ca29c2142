"""Wildberries as a dlt source: products, stock on WB and seller warehouses, orders.

Tenant credentials are explicit arguments, never dlt secrets. Every row carries the tenant and
the marketplace; stock rows carry the snapshot time, so history accumulates under merge.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource

from pipelines.http_policy import HttpPolicy
from pipelines.wildberries.helpers import WbClient, WbUrls

MARKETPLACE = "wildberries"


@dlt.source(name="wildberries", max_table_nesting=0)
def wildberries_source(
    token: str,
    tenant: str,
    snapshot_at: datetime,
    urls: WbUrls = WbUrls(),
    orders_days: int = 30,
    policy: HttpPolicy | None = None,
) -> Sequence[DltResource]:
    client = WbClient(token, urls, policy)
    client.check_categories()
    stamp = snapshot_at.astimezone(UTC).isoformat()
    common = {"tenant_id": tenant, "marketplace": MARKETPLACE}

    @dlt.resource(name="wb_products", primary_key="chrt_id", write_disposition="merge")
    def products() -> Iterator[dict[str, Any]]:
        for size in client.sizes():
            yield {**common, **size, "barcodes": ",".join(size["barcodes"])}

    @dlt.resource(
        name="wb_stock",
        primary_key=("snapshot_at", "chrt_id", "warehouse_kind", "warehouse_name"),
        write_disposition="merge",
    )
    def stock() -> Iterator[dict[str, Any]]:
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in client.wb_warehouse_stock() + client.seller_warehouse_stock():
            key = (row["chrt_id"], row["warehouse_kind"], row["warehouse_name"])
            if key in merged:  # one row per natural key, whatever the endpoint repeats
                for field in ("quantity", "in_way_to_client", "in_way_from_client"):
                    merged[key][field] += row[field]
            else:
                merged[key] = {**common, "snapshot_at": stamp, **row}
        yield from merged.values()

    @dlt.resource(name="wb_orders", primary_key="srid", write_disposition="merge")
    def orders() -> Iterator[dict[str, Any]]:
        since = snapshot_at - timedelta(days=orders_days)
        for order in client.orders(since):
            yield {**common, **order}

    return products, stock, orders

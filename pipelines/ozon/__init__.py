"""Ozon as a dlt source: products, stock by scheme and by warehouse (FBO + FBS), turnover, orders.

Tenant credentials are explicit arguments, never dlt secrets. Every row carries the tenant and
the marketplace; snapshot tables carry the snapshot time in their key, so history accumulates
under merge. Tables are prefixed `ozon_` and share the tenant's dataset with the `wb_` ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.sources import DltResource

from pipelines.http_policy import HttpPolicy
from pipelines.ozon.helpers import OzonClient, OzonUrls

MARKETPLACE = "ozon"


def _nullable(data_type: str, *names: str) -> TTableSchemaColumns:
    """Columns some paths leave empty (a method that does not report them), typed up front so the
    table has them whichever path the first load took."""
    return {name: {"name": name, "data_type": data_type, "nullable": True} for name in names}  # type: ignore[misc]


PRODUCT_COLUMNS = {**_nullable("text", "brand", "category"), **_nullable("bigint", "category_id", "type_id")}
STOCK_COLUMNS = {
    **_nullable("bigint", "product_id", "warehouse_id", "reserved", "in_way_from_client"),
    **_nullable("text", "cluster"),
}
ORDER_COLUMNS = _nullable("bigint", "product_id", "warehouse_id")
ID_COLUMNS = _nullable("bigint", "product_id")
STOCK_SUMS = ("quantity", "reserved", "in_way_to_client", "in_way_from_client")


@dlt.source(name="ozon", max_table_nesting=0)
def ozon_source(
    client_id: str,
    api_key: str,
    tenant: str,
    snapshot_at: datetime,
    urls: OzonUrls = OzonUrls(),
    orders_days: int = 30,
    policy: HttpPolicy | None = None,
) -> Sequence[DltResource]:
    client = OzonClient(client_id, api_key, urls, policy)
    client.check_key()
    stamp = snapshot_at.astimezone(UTC).isoformat()
    common = {"tenant_id": tenant, "marketplace": MARKETPLACE}

    @dlt.resource(name="ozon_products", primary_key="sku", write_disposition="merge", columns=PRODUCT_COLUMNS)
    def products() -> Iterator[dict[str, Any]]:
        for product in client.products():
            yield {**common, **product}

    @dlt.resource(
        name="ozon_stock",
        primary_key=("snapshot_at", "sku", "warehouse_kind", "warehouse_name"),
        write_disposition="merge",
        columns=STOCK_COLUMNS,
    )
    def stock() -> Iterator[dict[str, Any]]:
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in client.fbo_stock() + client.fbs_stock():
            key = (row["sku"], row["warehouse_kind"], row["warehouse_name"])
            if key in merged:  # one row per natural key, whatever the methods repeat
                for field in STOCK_SUMS:
                    if row[field] is not None:
                        merged[key][field] = (merged[key][field] or 0) + row[field]
            else:
                merged[key] = {**common, "snapshot_at": stamp, **row}
        yield from merged.values()

    @dlt.resource(
        name="ozon_stock_by_scheme",
        primary_key=("snapshot_at", "sku", "scheme"),
        write_disposition="merge",
        columns=ID_COLUMNS,
    )
    def stock_by_scheme() -> Iterator[dict[str, Any]]:
        for row in client.stock_by_scheme():
            yield {**common, "snapshot_at": stamp, **row}

    @dlt.resource(
        name="ozon_turnover",
        primary_key=("snapshot_at", "sku"),
        write_disposition="merge",
        columns=ID_COLUMNS,
    )
    def turnover() -> Iterator[dict[str, Any]]:
        for row in client.turnover():
            yield {**common, "snapshot_at": stamp, **row}

    @dlt.resource(
        name="ozon_orders",
        primary_key=("posting_number", "sku"),
        write_disposition="merge",
        columns=ORDER_COLUMNS,
    )
    def orders() -> Iterator[dict[str, Any]]:
        for line in client.orders(snapshot_at - timedelta(days=orders_days), snapshot_at):
            yield {**common, **line}

    return products, stock, stock_by_scheme, turnover, orders

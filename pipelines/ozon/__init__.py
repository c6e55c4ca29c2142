"""Ozon as a dlt source: products with their brand and category, stock by scheme and by warehouse
(FBO + FBS, with Ozon's per-cluster rates and supplies), the clusters of Ozon's warehouses,
turnover, orders.

Tenant credentials are explicit arguments, never dlt secrets. Every row carries the tenant and
the marketplace; snapshot tables carry the snapshot time in their key, so history accumulates
under merge. Tables are prefixed `ozon_` and share the tenant's dataset with the `wb_` ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from pipelines.destination import SNAPSHOTS
from pipelines.http_policy import HttpPolicy
from pipelines.ozon.helpers import OzonClient, OzonUrls

MARKETPLACE = "ozon"
_TEXT, _INT, _FLOAT, _TIME = pa.string(), pa.int64(), pa.float64(), pa.timestamp("us", tz="UTC")
_OWNER = [("tenant_id", _TEXT), ("marketplace", _TEXT)]
# Explicit schemas: an empty answer still loads a typed (empty) table, and columns a method does
# not report (FBO reservations, …) exist as NULL; keys are NOT NULL as in dlt.
PRODUCTS = pa.schema(
    [
        *_OWNER,
        pa.field("sku", _INT, nullable=False),
        ("product_id", _INT),
        ("offer_id", _TEXT),
        ("name", _TEXT),
        ("category_id", _INT),
        ("type_id", _INT),
        ("barcodes", _TEXT),
        ("archived", pa.bool_()),
    ]
)
PRODUCT_ATTRIBUTES = pa.schema(
    [
        *_OWNER,
        pa.field("sku", _INT, nullable=False),
        ("product_id", _INT),
        ("offer_id", _TEXT),
        ("brand", _TEXT),
        ("brand_id", _INT),
        ("description_category_id", _INT),
        ("type_id", _INT),
    ]
)
CATEGORY_TREE = pa.schema(
    [
        *_OWNER,
        pa.field("description_category_id", _INT, nullable=False),
        pa.field("type_id", _INT, nullable=False),
        ("category_name", _TEXT),
        ("type_name", _TEXT),  # the seller's «Предмет»
        ("category_path", _TEXT),
        ("disabled", pa.bool_()),
    ]
)
STOCK = pa.schema(
    [
        *_OWNER,
        pa.field("snapshot_at", _TIME, nullable=False),
        pa.field("sku", _INT, nullable=False),
        ("product_id", _INT),
        ("offer_id", _TEXT),
        ("warehouse_id", _INT),
        pa.field("warehouse_name", _TEXT, nullable=False),
        pa.field("warehouse_kind", _TEXT, nullable=False),
        ("cluster", _TEXT),
        ("quantity", _INT),
        ("reserved", _INT),
        ("in_way_to_client", _INT),
        ("in_way_from_client", _INT),
        # /v1/analytics/stocks only (NULL for FBS and the legacy method): supply planning's input.
        ("cluster_id", _INT),
        ("transit_stock_count", _INT),
        ("requested_stock_count", _INT),
        ("ads", _FLOAT),
        ("ads_cluster", _FLOAT),
        ("idc", _FLOAT),
        ("idc_cluster", _FLOAT),
        ("turnover_grade", _TEXT),
    ]
)
CLUSTERS = pa.schema(
    [
        *_OWNER,
        pa.field("cluster_id", _INT, nullable=False),
        ("cluster_name", _TEXT),
        pa.field("warehouse_id", _INT, nullable=False),
        ("warehouse_name", _TEXT),
    ]
)
STOCK_BY_SCHEME = pa.schema(
    [
        *_OWNER,
        pa.field("snapshot_at", _TIME, nullable=False),
        pa.field("sku", _INT, nullable=False),
        ("product_id", _INT),
        ("offer_id", _TEXT),
        pa.field("scheme", _TEXT, nullable=False),
        ("present", _INT),
        ("reserved", _INT),
    ]
)
TURNOVER = pa.schema(
    [
        *_OWNER,
        pa.field("snapshot_at", _TIME, nullable=False),
        pa.field("sku", _INT, nullable=False),
        ("product_id", _INT),
        ("offer_id", _TEXT),
        ("current_stock", _INT),
        ("ads", _FLOAT),
        ("idc", _FLOAT),
        ("idc_grade", _TEXT),
        ("turnover", _FLOAT),
        ("turnover_grade", _TEXT),
    ]
)
ORDERS = pa.schema(
    [
        *_OWNER,
        pa.field("posting_number", _TEXT, nullable=False),
        pa.field("sku", _INT, nullable=False),
        ("product_id", _INT),
        ("offer_id", _TEXT),
        ("ordered_at", _TIME),
        ("warehouse_id", _INT),
        ("warehouse_name", _TEXT),
        ("warehouse_kind", _TEXT),
        ("quantity", _INT),
        ("price", _FLOAT),
        ("status", _TEXT),
        ("cancelled", pa.bool_()),
    ]
)
STOCK_SUMS = (
    "quantity",
    "reserved",
    "in_way_to_client",
    "in_way_from_client",
    "transit_stock_count",
    "requested_stock_count",
)


@dlt.source(name="ozon", max_table_nesting=0)
def ozon_source(
    client_id: str,
    api_key: str,
    tenant: str,
    snapshot_at: datetime,
    urls: OzonUrls = OzonUrls(),
    orders_days: int = 30,
    policy: HttpPolicy | None = None,
    check_token: bool = True,
) -> Sequence[DltResource]:
    """`check_token=False` builds the source without calling Ozon (for asset definitions)."""
    client = OzonClient(client_id, api_key, urls, policy)
    if check_token:
        client.check_key()
    stamp = snapshot_at.astimezone(UTC)
    common = {"tenant_id": tenant, "marketplace": MARKETPLACE}

    # Resources yield Arrow tables: dlt then skips row-by-row normalizing (as the WB source does).
    @dlt.resource(name="ozon_products", primary_key="sku", write_disposition="merge")
    def products() -> Iterator[pa.Table]:
        yield pa.Table.from_pylist([{**common, **p} for p in client.products()], schema=PRODUCTS)

    @dlt.resource(name="ozon_product_attributes", primary_key="sku", write_disposition="merge")
    def product_attributes() -> Iterator[pa.Table]:
        rows = [{**common, **row} for row in client.attributes()]
        yield pa.Table.from_pylist(rows, schema=PRODUCT_ATTRIBUTES)

    @dlt.resource(
        name="ozon_category_tree",
        primary_key=("description_category_id", "type_id"),
        write_disposition="merge",
    )
    def category_tree() -> Iterator[pa.Table]:
        rows = [{**common, **row} for row in client.category_tree()]
        yield pa.Table.from_pylist(rows, schema=CATEGORY_TREE)

    @dlt.resource(
        name="ozon_stock",
        primary_key=("snapshot_at", "sku", "warehouse_kind", "warehouse_name"),
        write_disposition=SNAPSHOTS,
    )
    def stock() -> Iterator[pa.Table]:
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in client.fbo_stock() + client.fbs_stock():
            key = (row["sku"], row["warehouse_kind"], row["warehouse_name"])
            if key in merged:  # one row per natural key, whatever the methods repeat
                for field in STOCK_SUMS:
                    if row.get(field) is not None:
                        merged[key][field] = (merged[key].get(field) or 0) + row[field]
            else:
                merged[key] = {**common, "snapshot_at": stamp, **row}
        yield pa.Table.from_pylist(list(merged.values()), schema=STOCK)

    # Replaced each sync: Ozon's current map of warehouses to clusters, not a history.
    @dlt.resource(
        name="ozon_clusters", primary_key=("cluster_id", "warehouse_id"), write_disposition="replace"
    )
    def clusters() -> Iterator[pa.Table]:
        yield pa.Table.from_pylist([{**common, **row} for row in client.clusters()], schema=CLUSTERS)

    @dlt.resource(
        name="ozon_stock_by_scheme", primary_key=("snapshot_at", "sku", "scheme"), write_disposition=SNAPSHOTS
    )
    def stock_by_scheme() -> Iterator[pa.Table]:
        rows = [{**common, "snapshot_at": stamp, **row} for row in client.stock_by_scheme()]
        yield pa.Table.from_pylist(rows, schema=STOCK_BY_SCHEME)

    @dlt.resource(name="ozon_turnover", primary_key=("snapshot_at", "sku"), write_disposition=SNAPSHOTS)
    def turnover() -> Iterator[pa.Table]:
        rows = [{**common, "snapshot_at": stamp, **row} for row in client.turnover()]
        yield pa.Table.from_pylist(rows, schema=TURNOVER)

    @dlt.resource(name="ozon_orders", primary_key=("posting_number", "sku"), write_disposition="merge")
    def orders() -> Iterator[pa.Table]:
        lines = client.orders(snapshot_at - timedelta(days=orders_days), snapshot_at)
        yield pa.Table.from_pylist([{**common, **line} for line in lines], schema=ORDERS)

    return products, product_attributes, category_tree, stock, clusters, stock_by_scheme, turnover, orders

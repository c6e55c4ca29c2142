"""The stock model's supply tables, built per sync next to warehouse/mart.py's:

* `mart.warehouse_clusters` — each Ozon warehouse and its cluster (`/v1/cluster/list`, else the
  cluster `/v1/analytics/stocks` names on the warehouse's rows);
* `mart.ozon_cluster_stock` — per SKU × Ozon warehouse of the current snapshot: its cluster,
  available, supplies in transit and requested, Ozon's 28-day rates (`ads`, `ads_cluster`);
* `mart.supply_guard` — what the supply guard found broken in this sync (warehouse/supply_guard.py).

Readers (`read_supply_inputs`) take a `rows(sql, params)` callable with `:name` parameters, so the
sync (Mart) and the API (StockReader) read them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

DDL = """
create table if not exists mart.warehouse_clusters (
    tenant_id text not null, marketplace text not null, warehouse_id bigint,
    warehouse_name text not null, cluster_id bigint, cluster_name text not null
);
create table if not exists mart.ozon_cluster_stock (
    tenant_id text not null, snapshot_at timestamptz not null, product_id bigint not null,
    warehouse_name text not null, cluster_id bigint, cluster_name text,
    available bigint not null, in_transit bigint not null, requested bigint not null,
    ads double precision, ads_cluster double precision
);
create table if not exists mart.supply_guard (
    tenant_id text not null, marketplace text not null, checked_at timestamptz not null,
    product_id bigint not null, identity text not null, expected bigint not null, reported bigint not null
);
"""
TABLES = ("warehouse_clusters", "ozon_cluster_stock", "supply_guard")
# Columns a raw `ozon_stock` of an older load may lack (added with supply planning): read as NULL.
_OZON_SUPPLY_COLUMNS = ("cluster_id", "transit_stock_count", "requested_stock_count", "ads", "ads_cluster")

Rows = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]
# (sql, params, column name → Polars dtype) → the rows as a frame of those columns and dtypes.
Frames = Callable[[str, dict[str, Any], dict[str, Any]], pl.DataFrame]


def rebuild_cluster_model(mart: Any) -> int:
    """Rebuild the tenant's warehouse → cluster map and per-warehouse cluster stock; row count."""
    tenant = {"tenant": mart.tenant}
    with mart.transaction():
        for table in ("warehouse_clusters", "ozon_cluster_stock"):
            mart._sql(f"delete from mart.{table} where tenant_id = $tenant", tenant)
        if mart._table_exists("ozon_clusters"):
            mart._sql(
                "insert into mart.warehouse_clusters select distinct $tenant, 'ozon', warehouse_id, "
                "warehouse_name, cluster_id, cluster_name from {raw}.ozon_clusters",
                tenant,
            )
        if not mart._table_exists("ozon_stock"):
            return 0
        present = _raw_columns(mart, "ozon_stock")
        col = {c: (f"s.{c}" if c in present else "null") for c in _OZON_SUPPLY_COLUMNS}
        cluster = "s.cluster" if "cluster" in present else "null"
        current = (
            "s.snapshot_at = (select max(snapshot_at) from {raw}.ozon_stock) and s.warehouse_kind = 'FBO'"
        )
        # Warehouses the cluster list does not name keep the cluster their stock rows carry.
        mart._sql(
            "insert into mart.warehouse_clusters select $tenant, 'ozon', max(s.warehouse_id), "
            f"s.warehouse_name, max({col['cluster_id']}), max({cluster}) from {{raw}}.ozon_stock s "
            f"where {current} and {cluster} is not null and s.warehouse_name not in "
            "(select warehouse_name from mart.warehouse_clusters where tenant_id = $tenant) "
            "group by s.warehouse_name",
            tenant,
        )
        mart._sql(
            "insert into mart.ozon_cluster_stock select $tenant, s.snapshot_at, s.sku, s.warehouse_name, "
            f"coalesce({col['cluster_id']}, w.cluster_id), coalesce({cluster}, w.cluster_name), "
            f"coalesce(s.quantity, 0), coalesce({col['transit_stock_count']}, 0), "
            f"coalesce({col['requested_stock_count']}, 0), {col['ads']}, {col['ads_cluster']} "
            "from {raw}.ozon_stock s left join mart.warehouse_clusters w "
            "on w.tenant_id = $tenant and w.warehouse_name = s.warehouse_name "
            f"where {current}",
            tenant,
        )
    found = mart.rows("select count(*) from mart.ozon_cluster_stock where tenant_id = $t", {"t": mart.tenant})
    return int(found[0][0])


def _raw_columns(mart: Any, table: str) -> set[str]:
    found = mart.rows(
        "select column_name from information_schema.columns "
        "where table_schema = $schema and table_name = $name",
        {"schema": mart.raw, "name": table},
    )
    return {r[0] for r in found}


_METRICS = (
    "marketplace",
    "product_id",
    "article",
    "title",
    "warehouse_name",
    "warehouse_kind",
    "stock",
    "orders",
    "in_way_from_client",
    "window_days",
)
_CLUSTERS = ("product_id", "warehouse_name", "cluster_name", "in_transit", "requested", "ads_cluster")
_METRIC_TYPES = {
    "marketplace": pl.String,
    "product_id": pl.Int64,
    "article": pl.String,
    "title": pl.String,
    "warehouse_name": pl.String,
    "warehouse_kind": pl.String,
    "stock": pl.Int64,
    "orders": pl.Int64,
    "in_way_from_client": pl.Int64,
    "window_days": pl.Int64,
}
_CLUSTER_TYPES = {
    "product_id": pl.Int64,
    "warehouse_name": pl.String,
    "cluster_name": pl.String,
    "in_transit": pl.Int64,
    "requested": pl.Int64,
    "ads_cluster": pl.Float64,
}


def read_supply_inputs(
    rows: Rows, tenant: str, has_table: Callable[[str], bool], frames: Frames | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """(stock metrics, Ozon cluster rows, guard findings, window days) of the tenant's model.

    `frames(sql, params, schema)`, when given, reads the two big tables as frames directly
    (the sync's Mart: DuckDB through Arrow). As Python tuples, every metrics row of a 10 000 × 40
    seller was read to keep the plan's first N products: +48 MB at the supply plan's step,
    the run's peak then (bench/bench_sync.py)."""

    def read(sql: str, schema: dict[str, Any]) -> pl.DataFrame:
        if frames is not None:
            return frames(sql, {"tenant": tenant}, schema)
        return pl.DataFrame(rows(sql, {"tenant": tenant}), schema=schema, orient="row")

    metrics = (
        read(f"select {', '.join(_METRICS)} from mart.stock_metrics where tenant_id = :tenant", _METRIC_TYPES)
        if has_table("stock_metrics")
        else pl.DataFrame(schema=_METRIC_TYPES)
    )
    clusters = (
        read(
            f"select {', '.join(_CLUSTERS)} from mart.ozon_cluster_stock where tenant_id = :tenant",
            _CLUSTER_TYPES,
        )
        if has_table("ozon_cluster_stock")
        else pl.DataFrame(schema=_CLUSTER_TYPES)
    )
    findings = read_guard(rows, tenant, has_table)
    window = int(metrics["window_days"].max()) if metrics.height else 7  # type: ignore[arg-type]
    return metrics.drop("window_days"), clusters, findings, window


GUARD_COLUMNS = ("marketplace", "product_id", "identity", "expected", "reported", "checked_at")
_GUARD_TYPES = {
    "marketplace": pl.String,
    "product_id": pl.Int64,
    "identity": pl.String,
    "expected": pl.Int64,
    "reported": pl.Int64,
    "checked_at": pl.Datetime("us", "UTC"),
}


def read_guard(rows: Rows, tenant: str, has_table: Callable[[str], bool]) -> pl.DataFrame:
    found = (
        rows(
            f"select {', '.join(GUARD_COLUMNS)} from mart.supply_guard where tenant_id = :tenant "
            "order by marketplace, identity, product_id",
            {"tenant": tenant},
        )
        if has_table("supply_guard")
        else []
    )
    return pl.DataFrame(found, schema=_GUARD_TYPES, orient="row")

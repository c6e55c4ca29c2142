"""The stock model as the API reads it: products with totals, one product's warehouses and history.

Reads `mart.stock_metrics` and `mart.stock_snapshot` (warehouse/mart.py), never the raw tables,
always scoped by tenant id. Totals follow the sheet (DESIGN §6): stock and orders are sums over
real warehouses (transit rows and WB's pseudo-warehouses excluded), in-way sums count every row,
days of cover = stock × window ÷ orders, one decimal, none without orders.

DuckDB (embedded default): the tenant's file is opened read-only for one request and closed, so a
running sync (which holds the write lock) is waited for briefly, then reported busy. PostgreSQL:
a pooled connection of the shared warehouse database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from warehouse.app_db import engine_for

PSEUDO_WAREHOUSES = (
    "В пути до получателей",
    "В пути возвраты на склад WB",
    "Всего находится на складах",
    "Остальные",
)
SORTS = {
    "article": "lower(article)",
    "title": "lower(title)",
    "brand": "lower(brand)",
    "product_id": "product_id",
    "stock": "stock",
    "orders": "orders",
    "days_of_cover": "days_of_cover",
}
_LOCK_WAIT_SECONDS = 2.0


class WarehouseBusy(RuntimeError):
    """The tenant's DuckDB file is being written by a sync; try again in a moment."""


@dataclass(frozen=True)
class ProductFilter:
    search: str | None = None
    marketplace: str | None = None
    min_stock: int | None = None
    max_stock: int | None = None
    low_stock_only: bool = False
    low_stock_days: int = 14


_PSEUDO = ", ".join(f"'{w}'" for w in PSEUDO_WAREHOUSES)
_ROWS = f"""
    from mart.stock_metrics
    where tenant_id = :tenant and warehouse_name not in ({_PSEUDO})"""

_PRODUCTS = f"""
    with p as (
        select marketplace, product_id, max(article) as article, max(brand) as brand,
               max(subject) as subject, max(title) as title,
               sum(case when warehouse_kind <> 'TRANSIT' then stock else 0 end) as stock,
               sum(case when warehouse_kind <> 'TRANSIT' then orders else 0 end) as orders,
               sum(in_way_to_client) as in_way_to_client, sum(in_way_from_client) as in_way_from_client,
               count(distinct case when warehouse_kind <> 'TRANSIT' and (stock <> 0 or orders <> 0)
                     then warehouse_kind || ':' || warehouse_name end) as warehouses,
               max(window_days) as window_days, max(snapshot_at) as snapshot_at
        {_ROWS} {{scope}}
        group by marketplace, product_id
    )
    select marketplace, product_id, article, brand, subject, title, stock, orders, in_way_to_client,
           in_way_from_client, warehouses, window_days, snapshot_at,
           case when orders > 0 then round(cast(stock * window_days as numeric) / orders, 1) end
               as days_of_cover
    from p
"""

PRODUCT_COLUMNS = (
    "marketplace",
    "product_id",
    "article",
    "brand",
    "subject",
    "title",
    "stock",
    "orders",
    "in_way_to_client",
    "in_way_from_client",
    "warehouses",
    "window_days",
    "snapshot_at",
    "days_of_cover",
)
METRIC_COLUMNS = (
    "marketplace",
    "product_id",
    "article",
    "brand",
    "subject",
    "title",
    "warehouse_name",
    "warehouse_kind",
    "stock",
    "in_way_to_client",
    "in_way_from_client",
    "orders",
    "days_of_cover",
    "window_days",
)


class StockReader:
    """One tenant's stock model, read-only, for the length of one request (a context manager)."""

    def __init__(self, url: str, tenant: str) -> None:
        self.tenant = tenant
        self.kind = "duckdb" if url.startswith("duckdb:///") else "postgres"
        self._conn: Any = None
        if self.kind == "duckdb":
            path = Path(url.removeprefix("duckdb:///").replace("{tenant}", tenant))
            if path.exists():  # no file: the tenant has never synced
                self._conn = _duckdb_read_only(path)
        else:
            self._conn = engine_for(url.replace("{tenant}", tenant)).connect()
        self._has_mart = self._conn is not None and self._mart_exists()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> StockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads --------------------------------------------------------------------------------

    def products(
        self, where: ProductFilter, *, sort: str = "article", limit: int = 50, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of products (totals per marketplace × product) and how many match in all."""
        if not self._has_mart:
            return [], 0
        scope, params = self._scope(where.marketplace)
        conditions, more = _conditions(where)
        params.update(more)
        filtered = f"select * from ({_PRODUCTS.format(scope=scope)}) q" + (
            " where " + " and ".join(conditions) if conditions else ""
        )
        descending = sort.startswith("-")
        column = SORTS[sort.lstrip("-")]
        order = f"{column} {'desc' if descending else 'asc'} nulls last, marketplace, product_id"
        rows = self._rows(
            f"select *, count(*) over () as total from ({filtered}) f order by {order} "
            "limit :limit offset :offset",
            {**params, "limit": limit, "offset": offset},
        )
        if rows:
            total = int(rows[0][-1])
        else:
            total = int(self._rows(f"select count(*) from ({filtered}) f", params)[0][0])
        return [dict(zip(PRODUCT_COLUMNS, row[:-1], strict=True)) for row in rows], total

    def product(self, product_id: int, marketplace: str | None = None) -> list[dict[str, Any]]:
        """The product's totals per marketplace (usually one; a WB nmID and an Ozon SKU may clash)."""
        if not self._has_mart:
            return []
        scope, params = self._scope(marketplace)
        rows = self._rows(
            _PRODUCTS.format(scope=scope + " and product_id = :product_id") + " order by marketplace",
            {**params, "product_id": product_id},
        )
        return [dict(zip(PRODUCT_COLUMNS, row, strict=True)) for row in rows]

    def warehouses(self, product_id: int, marketplace: str) -> list[dict[str, Any]]:
        """Stock, orders and days of cover of one product at each real warehouse."""
        if not self._has_mart:
            return []
        rows = self._rows(
            "select warehouse_name, warehouse_kind, sum(stock), sum(orders), max(window_days) "
            + _ROWS
            + " and marketplace = :marketplace and product_id = :product_id and warehouse_kind <> 'TRANSIT' "
            "group by warehouse_name, warehouse_kind order by warehouse_kind, warehouse_name",
            {"tenant": self.tenant, "marketplace": marketplace, "product_id": product_id},
        )
        return [
            {
                "warehouse_name": name,
                "warehouse_kind": kind,
                "stock": int(stock),
                "orders": int(orders),
                "days_of_cover": _cover(int(stock), int(orders), int(days)),
            }
            for name, kind, stock, orders, days in rows
        ]

    def history(
        self, product_id: int, marketplace: str, since: datetime | None = None
    ) -> list[tuple[datetime, int]]:
        """Units of the product at real warehouses at each snapshot, oldest first."""
        if not self._has_mart:
            return []
        rows = self._rows(
            "select snapshot_at, sum(available) from mart.stock_snapshot where tenant_id = :tenant "
            "and marketplace = :marketplace and product_id = :product_id and warehouse_kind <> 'TRANSIT' "
            f"and warehouse_name not in ({_PSEUDO}) "
            + ("and snapshot_at >= :since " if since is not None else "")
            + "group by snapshot_at order by snapshot_at",
            {"tenant": self.tenant, "marketplace": marketplace, "product_id": product_id, "since": since},
        )
        return [(stamp, int(units)) for stamp, units in rows]

    def metrics(self) -> list[dict[str, Any]]:
        """Every row of the current model (what `build_grid` lays out as the sheet)."""
        if not self._has_mart:
            return []
        rows = self._rows(
            f"select {', '.join(METRIC_COLUMNS)} from mart.stock_metrics where tenant_id = :tenant "
            "order by marketplace, article, product_id, warehouse_name",
            {"tenant": self.tenant},
        )
        return [dict(zip(METRIC_COLUMNS, row, strict=True)) for row in rows]

    def marketplaces(self) -> list[str]:
        if not self._has_mart:
            return []
        rows = self._rows(
            "select distinct marketplace from mart.stock_metrics where tenant_id = :tenant order by 1",
            {"tenant": self.tenant},
        )
        return [r[0] for r in rows]

    # --- plumbing -----------------------------------------------------------------------------

    def _scope(self, marketplace: str | None) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"tenant": self.tenant}
        if marketplace is None:
            return "", params
        params["marketplace"] = marketplace
        return " and marketplace = :marketplace", params

    def _mart_exists(self) -> bool:
        found = self._rows(
            "select count(*) from information_schema.tables "
            "where table_schema = 'mart' and table_name in ('stock_metrics', 'stock_snapshot')",
            {},
        )
        return int(found[0][0]) == 2

    def _rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if self.kind == "postgres":
            return [tuple(r) for r in self._conn.execute(text(sql), params)]
        used = {k: v for k, v in params.items() if f":{k}" in sql}
        duck_sql = sql
        for name in sorted(used, key=len, reverse=True):
            duck_sql = duck_sql.replace(f":{name}", f"${name}")
        return [tuple(r) for r in self._conn.execute(duck_sql, used).fetchall()]


def _conditions(where: ProductFilter) -> tuple[list[str], dict[str, Any]]:
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if where.search and where.search.strip():
        term = where.search.strip()
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["search"] = f"%{escaped}%"
        match = ["article", "title", "brand"]
        clause = " or ".join(f"{c} ilike :search escape '\\'" for c in match)
        if term.isdigit() and len(term) <= 18:
            params["search_id"] = int(term)
            clause += " or product_id = :search_id"
        conditions.append(f"({clause})")
    if where.min_stock is not None:
        conditions.append("stock >= :min_stock")
        params["min_stock"] = where.min_stock
    if where.max_stock is not None:
        conditions.append("stock <= :max_stock")
        params["max_stock"] = where.max_stock
    if where.low_stock_only:
        conditions.append("days_of_cover < :low_stock_days")
        params["low_stock_days"] = where.low_stock_days
    return conditions, params


def _cover(stock: int, orders: int, days: int) -> float | None:
    """stock × days ÷ orders, one decimal, half away from zero (as the sheet), None without orders."""
    if orders <= 0:
        return None
    tenths = (abs(stock) * 20 * days + orders) // (2 * orders)
    return (-tenths if stock < 0 else tenths) / 10


def _duckdb_read_only(path: Path) -> Any:
    import duckdb

    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    while True:
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            # A sync holds the write lock ("Could not set lock on file"); it lets go within seconds.
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise WarehouseBusy("the tenant's stock data is being updated by a sync") from None
            time.sleep(0.1)

"""The stock model as the API reads it: products with totals, one product's warehouses and history.

Reads `mart.stock_metrics` and `mart.stock_snapshot` (warehouse/mart.py), never the raw tables,
always scoped by tenant id. Totals follow the sheet (DESIGN §6): stock and orders are sums over
real warehouses (transit rows and WB's pseudo-warehouses excluded), in-way sums count every row,
days of cover = stock × window ÷ orders, one decimal, none without orders.

DuckDB (embedded default): the tenant's file is opened read-only when a request needs it and closed
after, so a running sync (which holds the write lock) is waited for briefly, then reported busy.
PostgreSQL: a pooled connection of the shared warehouse database, its transaction scoped to the
tenant by row-level security (warehouse/mart_isolation.py) as well as by every query's filter.

The product list is the hot read: its totals (one row per product, computed from every warehouse
row) are kept per tenant in this process and filtered, sorted and paged in Polars. They change
only when a sync writes the model: the DuckDB file (and its WAL) changing invalidates them; on
PostgreSQL they are kept `POSTGRES_TOTALS_SECONDS` at most. While a sync holds the DuckDB file,
the list keeps answering from the last totals read.
"""

from __future__ import annotations

import bisect
import threading
import time
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from warehouse.app_db import engine_for
from warehouse.mart_isolation import scope_to_tenant
from warehouse.warehouse_groups import group_label, pools_wb_warehouses

PSEUDO_WAREHOUSES = (
    "В пути до получателей",
    "В пути возвраты на склад WB",
    "Всего находится на складах",
    "Остальные",
)
SORTS = ("article", "title", "brand", "product_id", "stock", "orders", "days_of_cover")
TEXT_SORTS = ("article", "title", "brand")
_LOCK_WAIT_SECONDS = 2.0
POSTGRES_TOTALS_SECONDS = 10.0
CACHED_TENANTS = 64


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
_REAL = f"warehouse_name not in ({_PSEUDO})"
_PLACED = f"{_REAL} and warehouse_kind <> 'TRANSIT'"  # a real warehouse: stock and orders
_ROWS = f"""
    from mart.stock_metrics
    where tenant_id = :tenant and {_REAL}"""

# Every product of the model is listed, also one with rows only at pseudo-warehouses or only its
# zero transit row (a catalogue product with nothing anywhere): it shows zeros.
_PRODUCTS = f"""
    with p as (
        select marketplace, product_id, max(article) as article, max(brand) as brand,
               max(subject) as subject, max(title) as title,
               sum(case when {_PLACED} then stock else 0 end) as stock,
               sum(case when {_PLACED} then orders else 0 end) as orders,
               sum(case when {_REAL} then in_way_to_client else 0 end) as in_way_to_client,
               sum(case when {_REAL} then in_way_from_client else 0 end) as in_way_from_client,
               count(distinct case when {_PLACED} and (stock <> 0 or orders <> 0)
                     then warehouse_kind || ':' || warehouse_name end) as warehouses,
               max(window_days) as window_days, max(snapshot_at) as snapshot_at
        from mart.stock_metrics
        where tenant_id = :tenant {{scope}}
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
_TOTALS_TYPES = {
    "marketplace": "String",
    "product_id": "Int64",
    "article": "String",
    "brand": "String",
    "subject": "String",
    "title": "String",
    "stock": "Int64",
    "orders": "Int64",
    "in_way_to_client": "Int64",
    "in_way_from_client": "Int64",
    "warehouses": "Int64",
    "window_days": "Int64",
    "snapshot_at": "Datetime",
    "days_of_cover": "Float64",
}
# (url, tenant) → (version of the model, product totals), least recently used first.
_totals_cache: OrderedDict[tuple[str, str], tuple[tuple[Any, ...], Any]] = OrderedDict()
_cache_lock = threading.Lock()
_loading: dict[tuple[str, str], threading.Lock] = {}

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


MATCHES_KEPT = 64  # filter results per tenant


class ProductTotals:
    """A tenant's product totals (PRODUCT_COLUMNS plus lowercased text for search and sort), and
    the orders asked for so far, each cut to the plan's first N products (DESIGN §6a): a page of
    a list sorted before is a filter and a slice, the plan's cap folded into the same frame."""

    def __init__(self, frame: Any) -> None:
        import polars as pl

        self.frame = frame.with_columns(
            *(pl.col(c).str.to_lowercase().alias(f"_{c}") for c in TEXT_SORTS),
            # What a search looks in, one column: one scan instead of three. A search term has no
            # control characters (api/models.NO_CONTROL), so it cannot match across the NULs.
            pl.concat_str([pl.col(c) for c in TEXT_SORTS], separator="\0", ignore_nulls=True)
            .str.to_lowercase()
            .alias("_search"),
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
        )
        # Each product once as a dict, and each sorted order as row numbers: a page without a
        # filter is a list slice, no Polars call (each costs a query plan and a thread handoff).
        self.rows: list[dict[str, Any]] = frame.select(PRODUCT_COLUMNS).to_dicts()
        # For the caller's values derived from rows (the API's response items), gone with the totals.
        self.memo: dict[Any, Any] = {}
        self._order: dict[tuple[str, int | None], list[int]] = {}
        self._sorted: dict[tuple[str, int | None], Any] = {}
        self._capped: dict[int | None, tuple[Any, int]] = {}
        # The row numbers a filter matched, newest use last: paging through a search, or a
        # dashboard or the bot asking the same question again, is a slice until the next sync.
        self._matched: OrderedDict[tuple[Any, ...], array[int]] = OrderedDict()
        self._rank: dict[tuple[str, int | None], list[int]] = {}
        self._text: tuple[str, list[int], dict[int, list[int]]] | None = None
        self._lock = threading.Lock()

    def capped(self, plan_products: int | None) -> tuple[Any, int]:
        """The plan's first `plan_products` products by seller article, and how many are left out."""
        found = self._capped.get(plan_products)
        if found is None:
            from warehouse.plan_products import first_products

            if plan_products is None or self.frame.height <= plan_products:
                found = (self.frame, 0)
            else:
                found = first_products(self.frame, plan_products)
            with self._lock:
                self._capped[plan_products] = found
        return found

    def sorted_by(self, sort: str, plan_products: int | None = None) -> Any:
        found = self._sorted.get((sort, plan_products))
        if found is None:
            name = sort.lstrip("-")
            key = f"_{name}" if name in TEXT_SORTS else name
            found = self.capped(plan_products)[0].sort(
                [key, "marketplace", "product_id"],
                descending=[sort.startswith("-"), False, False],
                nulls_last=True,
            )
            with self._lock:
                self._sorted[(sort, plan_products)] = found
                self._order[(sort, plan_products)] = found["_row"].to_list()
        return found

    def page_rows(
        self,
        where: ProductFilter,
        *,
        sort: str = "article",
        limit: int = 50,
        offset: int = 0,
        plan_products: int | None = None,
    ) -> tuple[list[int], int, int]:
        """One page as row numbers into `rows`, how many match in all, how many the plan leaves out."""
        import polars as pl

        if self.frame.is_empty():
            return [], 0, 0
        left_out = self.capped(plan_products)[1]
        conditions = []
        if where.marketplace:
            conditions.append(pl.col("marketplace") == where.marketplace)
        term = (where.search or "").replace("\0", "").strip().lower()  # NUL separates `_search`
        if term:
            found = pl.col("_search").str.contains(term, literal=True).fill_null(False)
            if term.isdigit() and len(term) <= 18:
                found = found | (pl.col("product_id") == int(term))
            conditions.append(found)
        if where.min_stock is not None:
            conditions.append(pl.col("stock") >= where.min_stock)
        if where.max_stock is not None:
            conditions.append(pl.col("stock") <= where.max_stock)
        if where.low_stock_only:
            conditions.append(pl.col("days_of_cover") < where.low_stock_days)
        ordered = self.sorted_by(sort, plan_products)
        if not conditions:
            order = self._order[(sort, plan_products)]
            return order[offset : offset + limit], len(order), left_out
        key = (term, where.marketplace, where.min_stock, where.max_stock, where.low_stock_only)
        key += (where.low_stock_days if where.low_stock_only else None, sort, plan_products)
        matched = self._matched.get(key)
        if matched is None:
            # Kept as 4-byte row numbers: a filter matching all 10 000 products is 40 KB.
            matched = array("I")
            if len(conditions) == 1 and term and term.isprintable():
                matched.extend(self._in_order(self._search_rows(term), sort, plan_products))
            else:
                # Only the row numbers come out, so Polars reads just the columns the filter names
                # (a frame filter would copy every text column); filtering keeps the order.
                found_rows = pl.col("_row").filter(pl.all_horizontal(conditions))
                matched.frombytes(ordered.select(found_rows)["_row"].to_numpy().tobytes())
        with self._lock:
            self._matched[key] = matched
            self._matched.move_to_end(key)
            if len(self._matched) > MATCHES_KEPT:
                self._matched.popitem(last=False)
        return matched[offset : offset + limit].tolist(), len(matched), left_out

    def _search_rows(self, term: str) -> set[int]:
        """Rows whose article, title or brand contains `term` (lowercased), or whose id it is.

        A search alone, the list's most common filter, is Python's substring search over one
        string of every product's text: 0.13 ms at 10 000 products against Polars' 0.25 ms,
        and no hand-off to Polars' threads, which under load cost more than the search
        (bench/bench_api.py, a new search each request). Same matches as `str.contains`."""
        if self._text is None:
            texts = self.frame["_search"].fill_null("").to_list()
            starts, at = [], 0
            for text in texts:
                starts.append(at)
                at += len(text) + 1
            ids: dict[int, list[int]] = {}
            for row, product_id in enumerate(self.frame["product_id"].to_list()):
                ids.setdefault(product_id, []).append(row)
            # A printable term cannot hold the newline between two products' texts.
            self._text = ("\n".join(texts), starts, ids)
        text, starts, ids = self._text
        rows: set[int] = set()
        at = text.find(term)
        while at >= 0:
            row = bisect.bisect_right(starts, at) - 1
            rows.add(row)
            if row + 1 == len(starts):
                break
            at = text.find(term, starts[row + 1])
        if term.isdigit() and len(term) <= 18:
            rows.update(ids.get(int(term), ()))
        return rows

    def _in_order(self, rows: set[int], sort: str, plan_products: int | None) -> list[int]:
        """`rows` in the list's order for `sort`, without those the plan leaves out."""
        rank = self._rank.get((sort, plan_products))
        if rank is None:
            rank = [-1] * self.frame.height
            for position, row in enumerate(self._order[(sort, plan_products)]):
                rank[row] = position
            with self._lock:
                self._rank[(sort, plan_products)] = rank
        return sorted((row for row in rows if rank[row] >= 0), key=rank.__getitem__)

    def page(
        self,
        where: ProductFilter,
        *,
        sort: str = "article",
        limit: int = 50,
        offset: int = 0,
        plan_products: int | None = None,
    ) -> tuple[list[dict[str, Any]], int, int]:
        """One page of products, how many match in all, and how many the plan leaves out."""
        ids, total, left_out = self.page_rows(
            where, sort=sort, limit=limit, offset=offset, plan_products=plan_products
        )
        return [self.rows[i] for i in ids], total, left_out


class StockReader:
    """One tenant's stock model, read-only, for the length of one request (a context manager)."""

    def __init__(self, url: str, tenant: str) -> None:
        self.tenant = tenant
        self.url = url.replace("{tenant}", tenant)
        self.kind = "duckdb" if url.startswith("duckdb:///") else "postgres"
        self.path = Path(self.url.removeprefix("duckdb:///")) if self.kind == "duckdb" else None
        self._conn: Any = None
        self._has_mart: bool | None = None
        self._scoped = self.kind == "duckdb"  # a DuckDB file holds one tenant only

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
        self,
        where: ProductFilter,
        *,
        sort: str = "article",
        limit: int = 50,
        offset: int = 0,
        plan_products: int | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of products (totals per marketplace × product) and how many match in all; with
        `plan_products`, only the plan's first that many products by seller article."""
        rows, total, _ = self.product_totals().page(
            where, sort=sort, limit=limit, offset=offset, plan_products=plan_products
        )
        return rows, total

    def cached_totals(self) -> ProductTotals | None:
        """The totals if this process holds them for the model as it is now (no I/O but a stat)."""
        key, name = self._version(), (self.url, self.tenant)
        cached = _totals_cache.get(name)
        if cached is None or cached[0] != key:
            return None
        with _cache_lock:
            if name in _totals_cache:
                _totals_cache.move_to_end(name)
        return cached[1]

    def left_out_by_plan(self, product_id: int, marketplace: str, plan_products: int) -> bool:
        """Whether the product is beyond the plan's first `plan_products` by seller article (the
        same cut as the product list, the sheet and the files)."""
        import polars as pl

        frame = self.product_totals().frame
        if frame.height <= plan_products:
            return False
        from warehouse.plan_products import first_products

        kept, _ = first_products(frame, plan_products)
        mine = (pl.col("product_id") == product_id) & (pl.col("marketplace") == marketplace)
        return kept.filter(mine).is_empty()

    def product_totals(self) -> ProductTotals:
        """Every product's totals, from this process's cache while the tenant's model is unchanged.

        One request per tenant reloads them; requests meanwhile get the previous totals (or, when
        there are none yet, wait for that load), so a new version never costs N parallel loads."""
        key, name = self._version(), (self.url, self.tenant)
        with _cache_lock:
            cached = _totals_cache.get(name)
            if cached is not None and cached[0] == key:
                _totals_cache.move_to_end(name)
                return cached[1]
            loading = _loading.setdefault(name, threading.Lock())
        if not loading.acquire(blocking=cached is None):
            return cached[1]  # type: ignore[index]  # another request is reloading
        try:
            with _cache_lock:
                fresh = _totals_cache.get(name)
            if fresh is not None and fresh[0] == key:  # loaded while we waited
                return fresh[1]
            try:
                totals = ProductTotals(self._load_totals())
            except WarehouseBusy:
                if cached is None:
                    raise
                return cached[1]  # a sync is writing: the last complete model until it is done
            with _cache_lock:
                _totals_cache[name] = (key, totals)
                _totals_cache.move_to_end(name)
                while len(_totals_cache) > CACHED_TENANTS:
                    evicted, _ = _totals_cache.popitem(last=False)
                    _loading.pop(evicted, None)
            return totals
        finally:
            loading.release()

    def product(self, product_id: int, marketplace: str | None = None) -> list[dict[str, Any]]:
        """The product's totals per marketplace (usually one; a WB nmID and an Ozon SKU may clash)."""
        if not self._mart():
            return []
        scope, params = self._scope(marketplace)
        rows = self._rows(
            _PRODUCTS.format(scope=scope + " and product_id = :product_id") + " order by marketplace",
            {**params, "product_id": product_id},
        )
        return [dict(zip(PRODUCT_COLUMNS, row, strict=True)) for row in rows]

    def warehouses(self, product_id: int, marketplace: str) -> list[dict[str, Any]]:
        """Stock and orders of one product at each real warehouse, by the names the marketplace
        reports, each with its sheet group (warehouse/warehouse_groups.py) and the days of cover of
        that group: where WB reports orders only for the pooled `Склад WB`, a place's own
        stock ÷ orders would be a false number."""
        if not self._mart():
            return []
        params = {"tenant": self.tenant, "marketplace": marketplace, "product_id": product_id}
        rows = self._rows(
            "select warehouse_name, warehouse_kind, sum(stock), sum(orders), max(window_days) "
            + _ROWS
            + " and marketplace = :marketplace and product_id = :product_id and warehouse_kind <> 'TRANSIT' "
            "group by warehouse_name, warehouse_kind order by warehouse_kind, warehouse_name",
            params,
        )
        # Pooling is the tenant's (the sheet's columns), not one product's: look at every place.
        places = self._rows(
            "select distinct warehouse_kind, warehouse_name "
            + _ROWS
            + " and marketplace = :marketplace and warehouse_kind <> 'TRANSIT'",
            {"tenant": self.tenant, "marketplace": marketplace},
        )
        pooled = pools_wb_warehouses(marketplace, places)
        found = [
            {
                "warehouse_name": name,
                "warehouse_kind": kind,
                "group": group_label(kind, name, pooled=pooled),
                "stock": int(stock),
                "orders": int(orders),
                "window_days": int(days),
            }
            for name, kind, stock, orders, days in rows
        ]
        groups: dict[str, tuple[int, int]] = {}
        for row in found:
            stock, orders = groups.get(row["group"], (0, 0))
            groups[row["group"]] = (stock + row["stock"], orders + row["orders"])
        for row in found:
            row["days_of_cover"] = _cover(*groups[row["group"]], row.pop("window_days"))
        return found

    def history(
        self, product_id: int, marketplace: str, since: datetime | None = None
    ) -> list[tuple[datetime, int]]:
        """Units of the product at real warehouses at each snapshot, oldest first."""
        if not self._mart():
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
        if not self._mart():
            return []
        rows = self._rows(
            f"select {', '.join(METRIC_COLUMNS)} from mart.stock_metrics where tenant_id = :tenant "
            "order by marketplace, article, product_id, warehouse_name",
            {"tenant": self.tenant},
        )
        return [dict(zip(METRIC_COLUMNS, row, strict=True)) for row in rows]

    def supply_readers(self) -> tuple[Any, str, Any]:
        """(rows, tenant, has_table) for warehouse/supply_mart.py's readers."""

        def has_table(name: str) -> bool:
            if not self._mart():
                return False
            found = self._rows(
                "select count(*) from information_schema.tables "
                "where table_schema = 'mart' and table_name = :name",
                {"name": name},
            )
            return int(found[0][0]) == 1

        return self._rows, self.tenant, has_table

    def supply_inputs(self) -> tuple[Any, Any, Any, int]:
        """What the supply plan reads (warehouse/supply_plan.py `tenant_plan`)."""
        from warehouse.supply_mart import read_supply_inputs

        return read_supply_inputs(*self.supply_readers())

    # --- plumbing -----------------------------------------------------------------------------

    def _version(self) -> tuple[Any, ...]:
        if self.path is not None:
            # A sync changes the file or its write-ahead log; a new snapshot means a new version.
            return tuple(_stat(p) for p in (self.path, self.path.with_name(self.path.name + ".wal")))
        return (int(time.monotonic() // POSTGRES_TOTALS_SECONDS),)

    def _load_totals(self) -> Any:
        import polars as pl

        rows = self._rows(_PRODUCTS.format(scope=""), {"tenant": self.tenant}) if self._mart() else []
        cover = PRODUCT_COLUMNS.index("days_of_cover")
        schema = {
            name: pl.Datetime("us", "UTC") if kind == "Datetime" else getattr(pl, kind)
            for name, kind in _TOTALS_TYPES.items()
        }
        return pl.DataFrame(
            [(*row[:cover], None if row[cover] is None else float(row[cover])) for row in rows],
            schema={name: schema[name] for name in PRODUCT_COLUMNS},
            orient="row",
        )

    def _connection(self) -> Any:
        if self._conn is None:
            if self.path is not None:
                self._conn = _duckdb_read_only(self.path)
            else:
                self._conn = engine_for(self.url).connect()
                # The second wall (DESIGN §7): whatever a query forgets, this connection's
                # transaction sees only the tenant's rows (row-level security on the mart).
                self._scoped = scope_to_tenant(self._conn, self.tenant)
        return self._conn

    def _mart(self) -> bool:
        """Whether the tenant has a stock model yet (no DuckDB file: it has never synced; on
        PostgreSQL, no secured mart yet)."""
        if self._has_mart is None:
            if self.path is not None and not self.path.exists():
                self._has_mart = False
            else:
                self._connection()
                self._has_mart = self._scoped and self._mart_exists()
        return self._has_mart

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
        connection = self._connection()
        if self.kind == "postgres":
            return [tuple(r) for r in connection.execute(text(sql), params)]
        used = {k: v for k, v in params.items() if f":{k}" in sql}
        duck_sql = sql
        for name in sorted(used, key=len, reverse=True):
            duck_sql = duck_sql.replace(f":{name}", f"${name}")
        return [tuple(r) for r in connection.execute(duck_sql, used).fetchall()]


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


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

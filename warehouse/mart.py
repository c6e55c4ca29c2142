"""The stock model (DESIGN §4): what the sheet, the reports and the API read — never the raw tables.

Per sync and tenant, from the raw marketplace tables (dataset `t_<tenant>`):
* `mart.stock_snapshot` — one row per product × size × warehouse, appended: history;
* `mart.orders_window` — order lines of the tenant's window, one per order id, no cancellations;
* `mart.stock_metrics` — per product × warehouse: stock, transit, orders, days of cover.

The same SQL runs on DuckDB (embedded default, one file per tenant) and PostgreSQL (one schema
`mart` shared by tenants, every row keyed by `tenant_id`, row-level security as a second wall:
warehouse/mart_isolation.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from warehouse.private_files import private_dir, private_file

if TYPE_CHECKING:
    import polars as pl

MARKETPLACES = ("wildberries", "ozon")
_PARAM = re.compile(r"\$(\w+)")

DDL = """
create schema if not exists mart;
create table if not exists mart.stock_snapshot (
    tenant_id text not null, marketplace text not null, snapshot_at timestamptz not null,
    product_id bigint not null, item_id bigint not null, size text not null, article text,
    brand text, subject text, title text,
    warehouse_name text not null, warehouse_kind text not null,
    available bigint not null, in_way_to_client bigint not null, in_way_from_client bigint not null
);
create index if not exists stock_snapshot_by_tenant
    on mart.stock_snapshot (tenant_id, marketplace, snapshot_at);
create table if not exists mart.products (
    tenant_id text not null, marketplace text not null, product_id bigint not null,
    article text, brand text, subject text, title text
);
create table if not exists mart.orders_window (
    tenant_id text not null, marketplace text not null, order_id text not null,
    ordered_at timestamptz not null, product_id bigint not null, item_id bigint,
    warehouse_name text not null, warehouse_kind text not null, quantity bigint not null,
    price double precision
);
create table if not exists mart.stock_metrics (
    tenant_id text not null, marketplace text not null, snapshot_at timestamptz not null,
    window_days integer not null, product_id bigint not null, article text, brand text, subject text,
    title text, warehouse_name text not null, warehouse_kind text not null,
    stock bigint not null, in_way_to_client bigint not null, in_way_from_client bigint not null,
    orders bigint not null, days_of_cover double precision
);
"""

# An Ozon product as the seller names it: brand from its attributes, «Предмет» = the type's name in
# Ozon's category tree (ids from the attributes, else from /v3/product/info/list).
_OZON_PRODUCTS = """
    select p.tenant_id, p.sku, p.offer_id, p.name, a.brand, c.type_name as subject
    from {raw}.ozon_products p
    left join {raw}.ozon_product_attributes a on a.sku = p.sku
    left join {raw}.ozon_category_tree c
        on c.description_category_id = coalesce(a.description_category_id, p.category_id)
        and c.type_id = coalesce(a.type_id, p.type_id)"""
# Raw tables as each source loads them, mapped to the model's columns.
_SNAPSHOT_FROM_RAW = {
    "wildberries": """
        select s.tenant_id, 'wildberries', s.snapshot_at, s.nm_id, s.chrt_id, coalesce(p.tech_size, ''),
               p.vendor_code, p.brand, p.subject, p.title, s.warehouse_name, s.warehouse_kind,
               s.quantity, s.in_way_to_client, s.in_way_from_client
        from {raw}.wb_stock s left join {raw}.wb_products p on p.chrt_id = s.chrt_id
        where s.snapshot_at = (select max(snapshot_at) from {raw}.wb_stock)""",
    "ozon": """
        select s.tenant_id, 'ozon', s.snapshot_at, s.sku, s.sku, '',
               p.offer_id, p.brand, p.subject, p.name, s.warehouse_name, s.warehouse_kind,
               s.quantity, coalesce(s.in_way_to_client, 0), coalesce(s.in_way_from_client, 0)
        from {raw}.ozon_stock s left join ({ozon_products}) p on p.sku = s.sku
        where s.snapshot_at = (select max(snapshot_at) from {raw}.ozon_stock)""".replace(
        "{ozon_products}", _OZON_PRODUCTS
    ),
}
# One row per product (WB: per nmID over its sizes), whether or not it has stock anywhere.
_PRODUCTS_FROM_RAW = {
    "wildberries": """
        select max(tenant_id), 'wildberries', nm_id, max(vendor_code), max(brand), max(subject), max(title)
        from {raw}.wb_products group by nm_id""",
    "ozon": """
        select max(tenant_id), 'ozon', sku, max(offer_id), max(brand), max(subject), max(name)
        from ({ozon_products}) p group by sku""".replace("{ozon_products}", _OZON_PRODUCTS),
}
RAW_PRODUCTS_TABLE = {"wildberries": "wb_products", "ozon": "ozon_products"}
_ORDERS_FROM_RAW = {
    "wildberries": """
        select tenant_id, 'wildberries', srid, ordered_at, nm_id, chrt_id, warehouse_name, warehouse_kind,
               1, price
        from {raw}.wb_orders where not cancelled and ordered_at >= $start and ordered_at < $end""",
    "ozon": """
        select tenant_id, 'ozon', posting_number || '/' || cast(sku as text), ordered_at, sku, sku,
               warehouse_name, warehouse_kind, quantity, price
        from {raw}.ozon_orders where not cancelled and ordered_at >= $start and ordered_at < $end""",
}
RAW_STOCK_TABLE = {"wildberries": "wb_stock", "ozon": "ozon_stock"}
# A catalogue product with no stock and no orders anywhere still gets a row (DESIGN §6: out of
# stock is what a seller opens the sheet to see): one zero transit row, which the sheet and the API
# show as a product with zeros and no turnover and which no warehouse group counts.
_PRODUCTS_WITHOUT_ROWS = """
    insert into mart.stock_metrics
    select $tenant, p.marketplace, n.snapshot_at, $days, p.product_id, p.article, p.brand, p.subject,
           p.title, '', 'TRANSIT', 0, 0, 0, 0, null
    from mart.products p
    join (select marketplace, max(snapshot_at) as snapshot_at from mart.stock_snapshot
          where tenant_id = $tenant group by marketplace) n on n.marketplace = p.marketplace
    where p.tenant_id = $tenant and not exists (
        select 1 from mart.stock_metrics m
        where m.tenant_id = $tenant and m.marketplace = p.marketplace and m.product_id = p.product_id)"""


def raw_schema(tenant: str) -> str:
    return "t_" + tenant.replace("-", "_")


def order_window(days: int, timezone: str, now: datetime) -> tuple[datetime, datetime]:
    """The last `days` full days in the tenant's timezone: [midnight − days, today's midnight)."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    end = datetime.combine(today, time(), ZoneInfo(timezone))
    return end - timedelta(days=days), end


@dataclass(frozen=True)
class SyncCounts:
    snapshot_rows: int
    products: int  # products with a row in the current snapshot
    catalogue_products: int  # every product of the seller's catalogue (each has a sheet row)
    warehouses: int
    units: int
    orders: int
    negative_rows: int
    duplicate_keys: int

    def as_metadata(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.__dict__.items()}


CURRENT_STOCK_COLUMNS = (
    "marketplace",
    "snapshot_at",
    "window_days",
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
)
_CURRENT_STOCK = (
    f"select {', '.join(CURRENT_STOCK_COLUMNS)} from mart.stock_metrics where tenant_id = $t "
    "order by marketplace, article, product_id, warehouse_name"
)


class Mart:
    """A connection to one tenant's slice of the warehouse (DuckDB file or PostgreSQL database)."""

    def __init__(self, url: str, tenant: str) -> None:
        self.tenant = tenant
        self.raw = raw_schema(tenant)
        self.kind = "duckdb" if url.startswith("duckdb:///") else "postgres"
        if self.kind == "duckdb":
            import duckdb

            path = Path(url.removeprefix("duckdb:///"))
            private_dir(path.parent)
            # One thread: a tenant's model is tens of thousands of rows, and each DuckDB thread
            # keeps buffers of its own (the metrics build: +106 → +78 MB, bench/bench_sync.py).
            self._conn: Any = duckdb.connect(str(path), config={"threads": 1})
            private_file(path)
        else:
            import psycopg

            self._conn = psycopg.connect(
                url.replace("postgresql+psycopg://", "postgresql://"), autocommit=False
            )

    def close(self) -> None:
        self._conn.close()

    # --- SQL plumbing ----------------------------------------------------------------------------

    def _sql(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        sql = sql.replace("{raw}", self.raw)
        if self.kind == "postgres":
            sql = _PARAM.sub(r"%(\1)s", sql)
            cursor = self._conn.cursor()
            cursor.execute(sql, params or {})
            return cursor
        return self._conn.execute(sql, params or {}) if params else self._conn.execute(sql)

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self._sql(sql, params)
        return [tuple(r) for r in cursor.fetchall()]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.kind == "duckdb":
            self._conn.execute("begin transaction")
        try:
            yield
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    def ensure_schema(self) -> None:
        with self.transaction():
            if self.kind == "postgres":
                from warehouse.mart_isolation import LOCK_MART_SCHEMA

                self._conn.execute(LOCK_MART_SCHEMA)
            from warehouse.supply_mart import DDL as SUPPLY_DDL

            for statement in filter(str.strip, (DDL + SUPPLY_DDL).split(";")):
                self._sql(statement)
            if self.kind == "postgres":
                from warehouse.mart_isolation import SECURE_MART

                self._conn.execute(SECURE_MART)  # no parameters: its `%I` is PL/pgSQL's, not psycopg's

    def has_raw(self, marketplace: str) -> bool:
        return self._table_exists(RAW_STOCK_TABLE[marketplace])

    # --- per-sync builds ----------------------------------------------------------------------

    def append_snapshot(self, marketplaces: Sequence[str]) -> datetime | None:
        """Copy each marketplace's latest raw snapshot into history (idempotent per snapshot)."""
        latest: datetime | None = None
        with self.transaction():
            for marketplace in marketplaces:
                if not self.has_raw(marketplace):
                    continue
                stamp = self.rows(f"select max(snapshot_at) from {{raw}}.{RAW_STOCK_TABLE[marketplace]}")[0][
                    0
                ]
                if stamp is None:
                    continue
                self._sql(
                    "delete from mart.stock_snapshot where tenant_id = $tenant and marketplace = $mp "
                    "and snapshot_at = $stamp",
                    {"tenant": self.tenant, "mp": marketplace, "stamp": stamp},
                )
                self._sql("insert into mart.stock_snapshot " + _SNAPSHOT_FROM_RAW[marketplace])
                self._sql(
                    "delete from mart.products where tenant_id = $tenant and marketplace = $mp",
                    {"tenant": self.tenant, "mp": marketplace},
                )
                if self._table_exists(RAW_PRODUCTS_TABLE[marketplace]):
                    self._sql("insert into mart.products " + _PRODUCTS_FROM_RAW[marketplace])
                latest = max(latest, stamp) if latest else stamp
        return latest

    def rebuild_orders_window(self, marketplaces: Sequence[str], start: datetime, end: datetime) -> int:
        with self.transaction():
            self._sql("delete from mart.orders_window where tenant_id = $tenant", {"tenant": self.tenant})
            for marketplace in marketplaces:
                table = "wb_orders" if marketplace == "wildberries" else "ozon_orders"
                if not self._table_exists(table):
                    continue
                self._sql(
                    "insert into mart.orders_window " + _ORDERS_FROM_RAW[marketplace],
                    {"start": start, "end": end},
                )
        return self.rows("select count(*) from mart.orders_window where tenant_id = $t", {"t": self.tenant})[
            0
        ][0]

    def rebuild_metrics(self, window_days: int) -> int:
        """Per product × warehouse of each marketplace's current snapshot: stock, orders, cover."""
        with self.transaction():
            self._sql("delete from mart.stock_metrics where tenant_id = $tenant", {"tenant": self.tenant})
            self._sql(
                """
                insert into mart.stock_metrics
                with current_snapshot as (
                    select s.* from mart.stock_snapshot s
                    where s.tenant_id = $tenant and s.snapshot_at = (
                        select max(snapshot_at) from mart.stock_snapshot x
                        where x.tenant_id = s.tenant_id and x.marketplace = s.marketplace)
                ),
                stock as (
                    select marketplace, max(snapshot_at) as snapshot_at, product_id, max(article) as article,
                           max(brand) as brand, max(subject) as subject, max(title) as title,
                           warehouse_name, warehouse_kind, sum(available) as stock,
                           sum(in_way_to_client) as to_client, sum(in_way_from_client) as from_client
                    from current_snapshot group by marketplace, product_id, warehouse_name, warehouse_kind
                ),
                orders as (
                    select marketplace, product_id, warehouse_name, warehouse_kind, sum(quantity) as orders
                    from mart.orders_window where tenant_id = $tenant
                    group by marketplace, product_id, warehouse_name, warehouse_kind
                ),
                snapshots as (
                    select marketplace, max(snapshot_at) as snapshot_at
                    from current_snapshot group by marketplace
                ),
                products as (
                    select p.marketplace, p.product_id, p.article, p.brand, p.subject, p.title, n.snapshot_at
                    from mart.products p join snapshots n on n.marketplace = p.marketplace
                    where p.tenant_id = $tenant
                )
                select $tenant, coalesce(s.marketplace, o.marketplace),
                       coalesce(s.snapshot_at, p.snapshot_at), $days,
                       coalesce(s.product_id, o.product_id), coalesce(s.article, p.article),
                       coalesce(s.brand, p.brand), coalesce(s.subject, p.subject),
                       coalesce(s.title, p.title), coalesce(s.warehouse_name, o.warehouse_name),
                       coalesce(s.warehouse_kind, o.warehouse_kind),
                       coalesce(s.stock, 0), coalesce(s.to_client, 0), coalesce(s.from_client, 0),
                       coalesce(o.orders, 0),
                       case when coalesce(o.orders, 0) = 0 then null
                            else round(cast(coalesce(s.stock, 0) * $days as numeric) / o.orders, 1) end
                from stock s
                full outer join orders o on o.marketplace = s.marketplace and o.product_id = s.product_id
                     and o.warehouse_name = s.warehouse_name and o.warehouse_kind = s.warehouse_kind
                left join products p on p.marketplace = coalesce(s.marketplace, o.marketplace)
                     and p.product_id = coalesce(s.product_id, o.product_id)
                where coalesce(s.snapshot_at, p.snapshot_at) is not null
                """,
                {"tenant": self.tenant, "days": window_days},
            )
            self._sql(_PRODUCTS_WITHOUT_ROWS, {"tenant": self.tenant, "days": window_days})
        return self.rows("select count(*) from mart.stock_metrics where tenant_id = $t", {"t": self.tenant})[
            0
        ][0]

    def supply_readers(self) -> tuple[Any, str, Any]:
        """(rows, tenant, has_table) for warehouse/supply_mart.py's readers (`:name` parameters)."""

        def rows(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            return self.rows(re.sub(r"(?<!:):(\w+)", r"$\1", sql), params)

        def has_table(name: str) -> bool:
            found = self.rows(
                "select count(*) from information_schema.tables where table_schema = 'mart' "
                "and table_name = $name",
                {"name": name},
            )
            return bool(found[0][0])

        return rows, self.tenant, has_table

    def supply_frames(self) -> Any:
        """`frames(sql, params, schema)` for `read_supply_inputs` (`:name` parameters): from
        DuckDB through Arrow, no Python object per value; PostgreSQL through rows."""
        import polars as pl  # the API reads the mart without Polars

        def frames(sql: str, params: dict[str, Any], schema: dict[str, Any]) -> pl.DataFrame:
            sql = re.sub(r"(?<!:):(\w+)", r"$\1", sql)
            if self.kind == "duckdb":
                return self._sql(sql, params).pl().cast(schema)
            return pl.DataFrame(self.rows(sql, params), schema=schema, orient="row")

        return frames

    def _table_exists(self, table: str) -> bool:
        found = self.rows(
            "select count(*) from information_schema.tables "
            "where table_schema = $schema and table_name = $name",
            {"schema": self.raw, "name": table},
        )
        return bool(found[0][0])

    # --- reads ------------------------------------------------------------------------------------

    def snapshot_counts(self) -> SyncCounts:
        """Facts about the current snapshot that the asset checks and the summary use."""
        current = (
            "from mart.stock_snapshot s where s.tenant_id = $t and s.snapshot_at = (select max(snapshot_at) "
            "from mart.stock_snapshot x where x.tenant_id = s.tenant_id and x.marketplace = s.marketplace)"
        )
        params = {"t": self.tenant}
        rows, products, warehouses, units = self.rows(
            "select count(*), count(distinct s.marketplace || ':' || cast(s.product_id as text)), "
            "count(distinct case when s.warehouse_kind <> 'TRANSIT' then s.warehouse_name end), "
            "coalesce(sum(s.available), 0) " + current,
            params,
        )[0]
        negative = self.rows(
            "select count(*) " + current + " and (s.available < 0 or s.in_way_to_client < 0 "
            "or s.in_way_from_client < 0)",
            params,
        )[0][0]
        duplicates = self.rows(
            "select count(*) from (select s.marketplace, s.snapshot_at, s.item_id, s.warehouse_kind, "
            "s.warehouse_name " + current + " group by 1, 2, 3, 4, 5 having count(*) > 1) d",
            params,
        )[0][0]
        orders = self.rows(
            "select coalesce(sum(quantity), 0) from mart.orders_window where tenant_id = $t", params
        )[0][0]
        catalogue = self.rows(
            "select count(distinct marketplace || ':' || cast(product_id as text)) from mart.products "
            "where tenant_id = $t",
            params,
        )[0][0]
        return SyncCounts(
            int(rows),
            int(products),
            int(catalogue),
            int(warehouses),
            int(units),
            int(orders),
            int(negative),
            int(duplicates),
        )

    def raw_stock_rows(self, marketplace: str) -> int:
        if not self.has_raw(marketplace):
            return 0
        table = RAW_STOCK_TABLE[marketplace]
        return self.rows(
            f"select count(*) from {{raw}}.{table} where snapshot_at = "
            f"(select max(snapshot_at) from {{raw}}.{table})"
        )[0][0]

    def snapshots(self) -> list[datetime]:
        found = self.rows(
            "select distinct snapshot_at from mart.stock_snapshot where tenant_id = $t order by 1",
            {"t": self.tenant},
        )
        return [r[0] for r in found]

    def current_stock(self) -> list[dict[str, Any]]:
        """The current stock model per product × warehouse, as the API reads it."""
        found = self.rows(_CURRENT_STOCK, {"t": self.tenant})
        return [dict(zip(CURRENT_STOCK_COLUMNS, r, strict=True)) for r in found]

    def current_stock_frame(self) -> pl.DataFrame:
        """`current_stock()` as a Polars frame, the sheet's input, without a Python object per
        value: at 10 000 SKUs × 40 warehouses the dicts were ~100 MB at the sync's peak
        (bench/bench_sync.py). Same columns and dtypes as `pl.DataFrame(current_stock())`."""
        import polars as pl  # the API reads the mart without Polars

        if self.kind == "duckdb":
            frame = self._sql(_CURRENT_STOCK, {"t": self.tenant}).pl()
            # DuckDB's INTEGER comes as Int32; the Python path gave Int64 (sums must not overflow).
            return frame.with_columns(pl.col(pl.Int8, pl.Int16, pl.Int32).cast(pl.Int64))
        rows = self.rows(_CURRENT_STOCK, {"t": self.tenant})
        return pl.DataFrame(rows, schema=list(CURRENT_STOCK_COLUMNS), orient="row", infer_schema_length=None)

    def stock_history(self, product_id: int, since: date | None = None) -> list[tuple[datetime, int]]:
        """Units of one product over time (sum over sizes and warehouses), oldest first."""
        found = self.rows(
            "select snapshot_at, sum(available) from mart.stock_snapshot where tenant_id = $t "
            "and product_id = $p and (cast($since as timestamptz) is null or snapshot_at >= $since) "
            "group by 1 order by 1",
            {"t": self.tenant, "p": product_id, "since": since},
        )
        return [(r[0], int(r[1])) for r in found]

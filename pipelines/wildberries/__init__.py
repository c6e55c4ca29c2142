"""Wildberries as a dlt source: products, stock on WB and seller warehouses, orders.

Tenant credentials are explicit arguments, never dlt secrets. Every row carries the tenant and
the marketplace; stock rows carry the snapshot time, so history accumulates under merge.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from pipelines.destination import SNAPSHOTS, with_unique_keys
from pipelines.http_policy import HttpPolicy
from pipelines.runner import release_free_memory
from pipelines.wildberries import tables as T
from pipelines.wildberries.helpers import WbClient, WbUrls

MARKETPLACE = "wildberries"
_TEXT, _INT, _TIME = pa.string(), pa.int64(), pa.timestamp("us", tz="UTC")
_OWNER = [("tenant_id", _TEXT), ("marketplace", _TEXT)]
# Explicit schemas: an empty answer still loads a typed (empty) table; keys are NOT NULL as in dlt.
PRODUCTS = pa.schema(
    [
        *_OWNER,
        ("nm_id", _INT),
        pa.field("chrt_id", _INT, nullable=False),
        ("vendor_code", _TEXT),
        ("brand", _TEXT),
        ("subject", _TEXT),
        ("title", _TEXT),
        ("tech_size", _TEXT),
        ("barcodes", _TEXT),
    ]
)
STOCK = pa.schema(
    [
        *_OWNER,
        pa.field("snapshot_at", _TIME, nullable=False),
        ("nm_id", _INT),
        pa.field("chrt_id", _INT, nullable=False),
        ("warehouse_id", _INT),
        pa.field("warehouse_name", _TEXT, nullable=False),
        ("region", _TEXT),
        pa.field("warehouse_kind", _TEXT, nullable=False),
        ("quantity", _INT),
        ("in_way_to_client", _INT),
        ("in_way_from_client", _INT),
    ]
)
# warehouse_remains per nmID and line (warehouses, aggregates, pseudo-rows): the supply guard's input.
REMAINS = pa.schema(
    [
        *_OWNER,
        pa.field("snapshot_at", _TIME, nullable=False),
        pa.field("nm_id", _INT, nullable=False),
        pa.field("line", _TEXT, nullable=False),
        ("quantity", _INT),
    ]
)
ORDERS = pa.schema(
    [
        *_OWNER,
        pa.field("srid", _TEXT, nullable=False),
        ("nm_id", _INT),
        ("chrt_id", _INT),
        ("ordered_at", _TIME),
        ("changed_at", _TIME),
        ("warehouse_name", _TEXT),
        ("warehouse_kind", _TEXT),
        ("price", pa.float64()),
        ("cancelled", pa.bool_()),
    ]
)


@dlt.source(name="wildberries", max_table_nesting=0)
def wildberries_source(
    token: str,
    tenant: str,
    snapshot_at: datetime,
    urls: WbUrls = WbUrls(),
    orders_days: int = 30,
    policy: HttpPolicy | None = None,
    check_token: bool = True,
    remains: bool = True,
) -> Sequence[DltResource]:
    """`check_token=False` builds the source without calling WB (for asset definitions).

    `remains` loads the warehouse_remains report every sync (one async report, shared with the
    stock fallback) so the supply guard can check WB's totals; off, the guard skips WB's checks."""
    client = WbClient(token, urls, policy)
    if check_token:
        client.check_categories()
    stamp = snapshot_at.astimezone(UTC)
    common = {"tenant_id": tenant, "marketplace": MARKETPLACE}
    running = [4 if remains else 3]  # resources not yet finished; the last one empties the caches
    finishing = threading.Lock()  # the orders resource ends in one of dlt's worker threads

    def finished() -> None:
        with finishing:
            running[0] -= 1
            last = running[0] == 0
        if last:
            client.forget()
            release_free_memory()  # before dlt's load, which is the sync's peak

    # Resources yield Arrow tables: dlt then skips row-by-row normalizing (~10× faster loads).
    # In a worker thread of dlt's: the cards list is ~100 pages at WB's pace (100 a minute), and
    # the stock reports (fetched and read in the main thread meanwhile) fill those waits.
    @dlt.resource(name="wb_products", primary_key="chrt_id", write_disposition="merge", parallelized=True)
    def products() -> Iterator[pa.Table]:
        try:
            import pyarrow.compute as pc  # here, not at import: every run process imports the sources

            sizes = client.sizes()
            joined = pc.binary_join(sizes.column("barcodes"), ",")
            sizes = sizes.set_column(sizes.schema.get_field_index("barcodes"), "barcodes", joined)
            yield from table_batches(sizes, PRODUCTS, common)
        finally:
            finished()

    @dlt.resource(
        name="wb_stock",
        primary_key=("snapshot_at", "chrt_id", "warehouse_kind", "warehouse_name"),
        write_disposition=SNAPSHOTS,
    )
    def stock() -> Iterator[pa.Table]:
        try:
            rows = pa.concat_tables([client.wb_warehouse_stock(), client.seller_warehouse_stock()])
            # One row per natural key, whatever the endpoints repeat.
            merged = T.sum_per_key(
                rows,
                ["chrt_id", "warehouse_kind", "warehouse_name"],
                ["quantity", "in_way_to_client", "in_way_from_client"],
            )
            del rows
            # The reports' parse and merge leave ~25 MB freed but held by the allocators, under
            # the warehouse_remains read that comes next (bench/bench_sync.py: peak 414 → 390 MB).
            release_free_memory()
            yield from table_batches(merged, STOCK, {**common, "snapshot_at": stamp})
        finally:
            finished()

    # In a worker thread of dlt's, first: WB allows one order-feed page a minute, so most of this
    # resource is waiting for its turn, and the other resources' requests and rows fill that wait
    # (bench/bench_sync.py, 10 000 × 40 at ×1000: 11.0 → 9.5 s, peak +13 MB).
    @dlt.resource(name="wb_orders", primary_key="srid", write_disposition="merge", parallelized=True)
    def orders() -> Iterator[pa.Table]:
        try:
            since = snapshot_at - timedelta(days=orders_days)
            state = dlt.current.resource_state()
            changed_since = orders_changed_since(state.get("order_feed"), since)
            rows = client.orders(since, changed_since)
            yield from table_batches(rows, ORDERS, common)
            # Committed with this load only: a failed sync reads from the old cursor again.
            state["order_feed"] = orders_cursor(state.get("order_feed"), since, changed_since, rows)
        finally:
            finished()

    # Replaced each sync: the guard compares it with this sync's stock only.
    @dlt.resource(name="wb_remains", primary_key=("nm_id", "line"), write_disposition="replace")
    def remains_report() -> Iterator[pa.Table]:
        try:
            by_product = client.remains_by_product()
            release_free_memory()  # the report's JSON and its parse, before dlt writes the rows
            yield _with_constants(by_product, REMAINS, {**common, "snapshot_at": stamp})
        finally:
            finished()

    # Each yields a key once a load (orders and sizes keep a key's last row, stock sums per key).
    keyed = tuple(with_unique_keys(resource) for resource in (orders, products, stock))
    return (*keyed, remains_report) if remains else keyed


BATCH_ROWS = 20_000
# Orders whose status changed this long before the newest change already loaded are read again:
# a change WB records late still arrives, at the cost of about one more page of the feed.
ORDERS_OVERLAP = timedelta(hours=1)


def orders_changed_since(cursor: dict[str, str] | None, since: datetime) -> datetime | None:
    """Where this sync's order read can start: the changes after the last load's newest one, when
    an earlier full read already covers this sync's window; None means read the whole window.

    WB allows one order-feed page a minute: re-reading a 10 000-SKU seller's 30 days (61 pages)
    every 10 minutes asked 366 pages an hour against the 60 allowed (docs/scale.md)."""
    if not cursor or not cursor.get("changed_since"):
        return None
    if datetime.fromisoformat(cursor["window_start"]) > since:
        return None  # the window grew (a longer plan): read it whole once
    return datetime.fromisoformat(cursor["changed_since"]) - ORDERS_OVERLAP


def orders_cursor(
    cursor: dict[str, str] | None, since: datetime, changed_since: datetime | None, rows: pa.Table
) -> dict[str, str]:
    """The order cursor after a read: the start of the window fully read and the newest change."""
    import pyarrow.compute as pc  # where used: its import costs every run process memory

    window_start = cursor["window_start"] if changed_since is not None and cursor else since.isoformat()
    newest: datetime | None = pc.max(rows.column("changed_at")).as_py() if rows.num_rows else None
    if cursor and cursor.get("changed_since") and changed_since is not None:
        previous = datetime.fromisoformat(cursor["changed_since"])
        newest = previous if newest is None else max(newest, previous)
    return {"window_start": window_start, "changed_since": newest.isoformat() if newest else ""}


def arrow_batches(
    rows: Iterable[dict[str, Any]], schema: pa.Schema, constants: dict[str, Any]
) -> Iterator[pa.Table]:
    """Rows as Arrow tables of at most BATCH_ROWS, the columns in `constants` (tenant,
    marketplace, snapshot time) filled once per batch rather than copied into every row's dict:
    a 10 000-SKU sync held its rows twice over as dicts (bench/bench_sync.py). At least one
    table, maybe empty, so dlt still sees the resource's columns."""
    own = pa.schema([f for f in schema if f.name not in constants])
    batch: list[dict[str, Any]] = []
    sent = False
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            yield _with_constants(pa.Table.from_pylist(batch, schema=own), schema, constants)
            batch, sent = [], True
    if batch or not sent:
        yield _with_constants(pa.Table.from_pylist(batch, schema=own), schema, constants)


def table_batches(table: pa.Table, schema: pa.Schema, constants: dict[str, Any]) -> Iterator[pa.Table]:
    """`arrow_batches` for rows already in a table (slices, no copies)."""
    for start in range(0, max(table.num_rows, 1), BATCH_ROWS):
        yield _with_constants(table.slice(start, BATCH_ROWS), schema, constants)


def _with_constants(table: pa.Table, schema: pa.Schema, constants: dict[str, Any]) -> pa.Table:
    columns = {name: table.column(name) for name in table.column_names}
    for name, value in constants.items():
        field = schema.field(name)
        columns[name] = pa.repeat(pa.scalar(value, field.type), table.num_rows)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)

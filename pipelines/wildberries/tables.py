"""WB answers as Arrow tables: the big report documents are read straight from their bytes, and
rows are merged per key column by column, never as a Python dict per row.

A 10 000 SKU × 40 warehouse seller's stocks report and warehouse_remains report are ~10 MB of
JSON each; as dicts they were ~150 MB of small Python objects, and the pymalloc arenas they were
spread over stayed pinned by the few long-lived objects allocated meanwhile, through every later
step of the run (bench/bench_sync.py). Read into Arrow they are a few MB in Arrow's own pool.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

_TEXT, _INT = pa.string(), pa.int64()

# One row per size (chrtID), as the products resource and the fallbacks need them.
SIZES = pa.schema(
    [
        ("nm_id", _INT),
        ("chrt_id", _INT),
        ("vendor_code", _TEXT),
        ("brand", _TEXT),
        ("subject", _TEXT),
        ("title", _TEXT),
        ("tech_size", _TEXT),
        ("barcodes", pa.list_(_TEXT)),
    ]
)
# Stock rows before the tenant, marketplace and snapshot columns are added.
STOCK_ROWS = pa.schema(
    [
        ("nm_id", _INT),
        ("chrt_id", _INT),
        ("warehouse_id", _INT),
        ("warehouse_name", _TEXT),
        ("region", _TEXT),
        ("warehouse_kind", _TEXT),
        ("quantity", _INT),
        ("in_way_to_client", _INT),
        ("in_way_from_client", _INT),
    ]
)
ORDER_ROWS = pa.schema(
    [
        ("srid", _TEXT),
        ("nm_id", _INT),
        ("chrt_id", _INT),
        ("ordered_at", pa.timestamp("us", tz="UTC")),
        ("changed_at", pa.timestamp("us", tz="UTC")),
        ("warehouse_name", _TEXT),
        ("warehouse_kind", _TEXT),
        ("price", pa.float64()),
        ("cancelled", pa.bool_()),
    ]
)
REMAINS_ROWS = pa.schema([("nm_id", _INT), ("line", _TEXT), ("quantity", _INT)])

# The fields of WB's answers that are read; any others are skipped by the JSON reader.
STOCKS_REPORT_ITEM = pa.struct(
    [
        ("nmId", _INT),
        ("chrtId", _INT),
        ("warehouseId", _INT),
        ("warehouseName", _TEXT),
        ("regionName", _TEXT),
        ("quantity", _INT),
        ("inWayToClient", _INT),
        ("inWayFromClient", _INT),
    ]
)
REMAINS_ITEM = pa.struct(
    [
        ("nmId", _INT),
        ("barcode", _TEXT),
        ("techSize", _TEXT),
        ("warehouses", pa.list_(pa.struct([("warehouseName", _TEXT), ("quantity", _INT)]))),
    ]
)
_STOCKS_REPORT = pa.schema([("data", pa.struct([("items", pa.list_(STOCKS_REPORT_ITEM))]))])
_REMAINS_REPORT = pa.schema([("rows", pa.list_(REMAINS_ITEM))])


def _read_document(body: bytes, schema: pa.Schema) -> pa.Table:
    """One JSON object (the whole body) as a one-row table. A body that is not JSON, or whose
    fields do not have the expected types, raises ValueError (retried as an unreadable body)."""
    import pyarrow.json as pj  # here, not at import: every run process imports the sources

    try:
        return pj.read_json(
            pa.BufferReader(body),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(body) + 1),
            parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=True
            ),
        )
    except pa.ArrowException as exc:
        raise ValueError(f"unreadable JSON document: {exc}") from None


def _items(table: pa.Table, *path: str) -> pa.Table:
    """The list at `path` of a one-row document table, one row per element."""
    if table.num_rows != 1:
        raise ValueError(f"expected one JSON document, got {table.num_rows}")
    column: Any = table.column(path[0]).combine_chunks()
    for name in path[1:]:
        if column.null_count:  # a missing level: not the answer WB documents, never "no rows"
            raise ValueError(f"the answer has no {'.'.join(path)}")
        column = column.field(name)
    if column.null_count:
        raise ValueError(f"the answer has no {'.'.join(path)}")
    return pa.Table.from_struct_array(column.flatten())


def stocks_report_items(body: bytes) -> pa.Table:
    """`{"data": {"items": [...]}}` of stocks-report/*: the items, one row each."""
    return _items(_read_document(body, _STOCKS_REPORT), "data", "items")


def remains_report_rows(body: bytes) -> pa.Table:
    """The warehouse_remains download (a JSON array of rows by size), one row each."""
    if not body.lstrip().startswith(b"["):
        raise ValueError("the warehouse_remains download is not a JSON array")
    # The JSON reader takes objects only: the array becomes one object's field.
    return _items(_read_document(b'{"rows":' + body + b"}", _REMAINS_REPORT), "rows")


def _row_numbers(table: pa.Table) -> pa.Table:
    return table.append_column("__row", pa.array(range(table.num_rows), _INT))


def _grouped(table: pa.Table, keys: list[str], aggregates: list[tuple[str, str]]) -> pa.Table:
    """Groups in the order of their first row (`__row_min`), as a dict keyed the same would be."""
    grouped = table.group_by(keys, use_threads=False).aggregate([("__row", "min"), *aggregates])
    return grouped.sort_by("__row_min")


def last_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """One row per key: the key's last row, at its first row's place (`unique[key] = row`)."""
    if table.num_rows == 0:
        return table
    numbered = _row_numbers(table)
    grouped = _grouped(numbered, keys, [("__row", "max")])
    if grouped.num_rows == table.num_rows:
        return table
    return table.take(grouped.column("__row_max"))


def sum_per_key(table: pa.Table, keys: list[str], summed: list[str]) -> pa.Table:
    """One row per key: the first row's values, `summed` columns added up over the key's rows."""
    if table.num_rows == 0:
        return table
    numbered = _row_numbers(table)
    grouped = _grouped(numbered, keys, [(name, "sum") for name in summed])
    if grouped.num_rows == table.num_rows:
        return table
    merged = table.take(grouped.column("__row_min"))
    for name in summed:
        merged = merged.set_column(
            merged.schema.get_field_index(name), name, grouped.column(f"{name}_sum").cast(_INT)
        )
    return merged


def remains_by_product(rows: pa.Table) -> pa.Table:
    """Units per nmID and warehouse_remains line, summed over sizes, sorted by (nmID, line)."""
    import pyarrow.compute as pc  # here, not at import: every run process imports the sources

    rows = rows.filter(pc.is_valid(rows.column("nmId")))
    lines = rows.column("warehouses").combine_chunks()
    entries = pc.list_flatten(lines)
    exploded = pa.table(
        {
            "nm_id": pc.take(rows.column("nmId"), pc.list_parent_indices(lines)),
            "line": entries.field("warehouseName"),
            "quantity": entries.field("quantity"),
        }
    )
    totals = exploded.group_by(["nm_id", "line"], use_threads=False).aggregate([("quantity", "sum")])
    totals = totals.sort_by([("nm_id", "ascending"), ("line", "ascending")])
    return pa.table(
        [totals.column("nm_id"), totals.column("line"), totals.column("quantity_sum").cast(_INT)],
        schema=REMAINS_ROWS,
    )

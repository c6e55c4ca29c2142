"""The PostgreSQL merge (pipelines/pg_merge.py): staging rows are sorted for deduplication only when
a key repeats there, and the merged table holds one row per key either way: a key sent twice in
one load, a sync run again, a COPY replayed into staging after a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import psycopg
import pyarrow as pa

from pipelines.destination import tenant_pipeline
from pipelines.runner import run_source

TABLE = "t_merge_check.stock"
STAGING = "t_merge_check_staging.stock"


def stock(rows: list[tuple[str, int, int]]) -> Any:
    @dlt.resource(name="stock", primary_key=("warehouse", "sku"), write_disposition="merge")
    def resource() -> Iterator[pa.Table]:
        warehouse, sku, quantity = zip(*rows, strict=True)
        yield pa.table({"warehouse": list(warehouse), "sku": list(sku), "quantity": list(quantity)})

    return resource


def merge_sql(pipeline: dlt.Pipeline) -> list[str]:
    """The merge job's statements as the loader would run them (one a line)."""
    with pipeline.destination_client() as client:
        table = client.prepare_load_table("stock")  # type: ignore[attr-defined]
        (job,) = client.create_table_chain_completed_followup_jobs([table])
        return Path(job.new_file_path()).read_text(encoding="utf-8").splitlines()


def sort_ran(conn: psycopg.Connection, insert: str) -> bool:
    """Whether the INSERT's plan executed its ROW_NUMBER() window (and the sort under it)."""
    (plan,) = conn.execute(f"explain (analyze, format json) {insert}").fetchone()
    conn.rollback()

    def windows(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if node["Node Type"] == "WindowAgg":
            yield node
        for child in node.get("Plans", []):
            yield from windows(child)

    found = list(windows((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]))
    assert found, "the merge keeps dlt's ROW_NUMBER() deduplication"
    return any(node["Actual Loops"] > 0 for node in found)


def stored(pg_url: str) -> list[tuple[str, int, int]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(f"select warehouse, sku, quantity from {TABLE} order by 1, 2").fetchall()


def test_staging_is_sorted_only_when_a_key_repeats_there(pg_url: str, tmp_path: Path) -> None:
    pipeline = tenant_pipeline("merge-check", "wildberries", pg_url, tmp_path)
    rows = [("Коледино", 1, 5), ("Коледино", 2, 7), ("Казань", 1, 3)]
    run_source(pipeline, stock(rows))
    statements = merge_sql(pipeline)
    (insert,) = [s for s in statements if s.startswith("INSERT")]

    with psycopg.connect(pg_url) as conn:
        # staging still holds the load's rows, one per key
        assert not sort_ran(conn, insert)
        # a load job replayed after a crash: its file's rows are in staging twice
        conn.execute(f"insert into {STAGING} select * from {STAGING}")
        conn.commit()
        assert sort_ran(conn, insert)
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    assert stored(pg_url) == sorted(rows)


def test_a_key_sent_twice_in_one_load_is_stored_once_and_a_rerun_adds_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    pipeline = tenant_pipeline("merge-check", "wildberries", pg_url, tmp_path)
    run_source(pipeline, stock([("Коледино", 1, 5), ("Казань", 1, 3)]))
    twice = [("Коледино", 1, 6), ("Коледино", 1, 6), ("Коледино", 2, 7)]
    run_source(pipeline, stock(twice))
    run_source(pipeline, stock(twice))
    assert stored(pg_url) == [("Казань", 1, 3), ("Коледино", 1, 6), ("Коледино", 2, 7)]

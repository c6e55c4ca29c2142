"""The PostgreSQL merge (pipelines/pg_merge.py): staging rows are sorted for deduplication only when
a key repeats there, and the merged table holds one row per key either way: a key sent twice in
one load, a sync run again, a COPY replayed into staging after a crash."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import psycopg
import pyarrow as pa
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.destination import SNAPSHOTS, tenant_pipeline, with_unique_keys
from pipelines.runner import run_source
from tests.api.test_database_restart import PrivatePostgres, private_pg  # noqa: F401 (fixture)

TABLE = "t_merge_check.stock"
STAGING = "t_merge_check_staging.stock"
pytestmark = pytest.mark.timeout(600)


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


def persistence(pg_url: str) -> dict[str, str]:
    """Each table's persistence in the dataset and its staging: `p` logged, `u` unlogged."""
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "select n.nspname || '.' || c.relname, c.relpersistence from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname like 't_merge_check%' and c.relkind = 'r'"
        ).fetchall()
    return dict(rows)


def test_only_staging_copies_are_unlogged_and_a_staging_emptied_by_crash_recovery_is_never_merged(
    pg_url: str, tmp_path: Path
) -> None:
    pipeline = tenant_pipeline("merge-check", "wildberries", pg_url, tmp_path)
    first = [("Коледино", 1, 5), ("Казань", 1, 3)]
    run_source(pipeline, stock(first))
    tables = persistence(pg_url)
    assert tables[STAGING] == "u"  # no WAL for rows that only pass through
    assert tables[TABLE] == "p" and tables["t_merge_check._dlt_loads"] == "p"

    run_source(pipeline, stock([("Коледино", 1, 9)]))
    statements = merge_sql(pipeline)
    with psycopg.connect(pg_url) as conn:
        # What PostgreSQL's crash recovery does to every unlogged table, here to the staging
        # dataset's: they come back empty.
        for (name,) in conn.execute(
            "select quote_ident(n.nspname) || '.' || quote_ident(c.relname) from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 't_merge_check_staging' and c.relpersistence = 'u' and c.relkind = 'r'"
        ).fetchall():
            conn.execute(f"truncate {name}")
        conn.commit()
        # The load, resumed after the restart, runs its merge: it refuses, and the table keeps
        # the last good sync.
        with pytest.raises(psycopg.errors.DataException, match="emptied by a database restart"):
            for statement in statements:
                conn.execute(statement)
        conn.rollback()
    assert stored(pg_url) == [("Казань", 1, 3), ("Коледино", 1, 9)]

    # The next sync arms its staging again and merges as usual.
    run_source(pipeline, stock([("Коледино", 1, 4)]))
    assert stored(pg_url) == [("Казань", 1, 3), ("Коледино", 1, 4)]


def test_a_staging_table_made_logged_by_an_earlier_version_turns_unlogged(
    pg_url: str, tmp_path: Path
) -> None:
    pipeline = tenant_pipeline("merge-check", "wildberries", pg_url, tmp_path)
    run_source(pipeline, stock([("Коледино", 1, 5)]))
    with psycopg.connect(pg_url) as conn:
        conn.execute(f"alter table {STAGING} set logged")
    assert persistence(pg_url)[STAGING] == "p"
    run_source(pipeline, stock([("Коледино", 1, 6), ("Казань", 2, 1)]))
    assert persistence(pg_url)[STAGING] == "u"
    assert stored(pg_url) == [("Казань", 2, 1), ("Коледино", 1, 6)]


def merge_job_sql(pipeline: dlt.Pipeline, load_id: str | None) -> str:
    """The merge statements the loader ran for `stock` in that load."""
    assert load_id is not None
    jobs = pipeline.get_load_package_info(load_id).jobs["completed_jobs"]
    (job,) = [job for job in jobs if job.job_file_info.file_format == "sql"]
    return Path(job.file_path).read_text(encoding="utf-8")


def test_keys_unique_at_the_source_skip_the_duplicate_check_until_a_load_job_runs_again(
    pg_url: str, tmp_path: Path
) -> None:
    pipeline = tenant_pipeline("merge-check", "wildberries", pg_url, tmp_path)
    undeclared = run_source(pipeline, stock([("Коледино", 1, 5), ("Казань", 1, 3)]))
    assert "GROUP BY" in merge_job_sql(pipeline, undeclared.load_id)

    declared = run_source(pipeline, with_unique_keys(stock([("Коледино", 1, 6)])))
    sql = merge_job_sql(pipeline, declared.load_id)
    assert "GROUP BY" not in sql and "ROW_NUMBER" not in sql
    assert "emptied by a database restart" in sql  # the crash-recovery check stays
    assert stored(pg_url) == [("Казань", 1, 3), ("Коледино", 1, 6)]

    # The loader died after starting the load job: the next run resumes it, and as the file may
    # already be in staging once, the merge checks for repeated keys again.
    pipeline.extract(with_unique_keys(stock([("Казань", 1, 2)])), loader_file_format="csv")
    pipeline.normalize()
    (load_id,) = pipeline.list_normalized_load_packages()
    package = Path(pipeline.working_dir) / "load" / "normalized" / load_id
    (job,) = (package / "new_jobs").glob("stock.*.csv")
    job.rename(package / "started_jobs" / job.name)
    pipeline.load()
    assert "GROUP BY" in merge_job_sql(pipeline, load_id)
    assert stored(pg_url) == [("Казань", 1, 2), ("Коледино", 1, 6)]


def test_a_load_resumed_after_a_database_crash_refuses_to_merge_what_recovery_emptied(
    private_pg: PrivatePostgres,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A real crash between the COPY into staging and the merge: recovery empties the unlogged
    staging; the resumed load fails instead of merging nothing, the table keeps its last sync."""
    url = private_pg.url
    pipeline = tenant_pipeline("merge-check", "wildberries", url, tmp_path)
    run_source(pipeline, with_unique_keys(stock([("Коледино", 1, 5), ("Казань", 1, 3)])))

    pipeline.extract(with_unique_keys(stock([("Коледино", 1, 9)])), loader_file_format="csv")
    pipeline.normalize()
    crashed = threading.Event()

    def crash_when_the_merge_waits() -> None:
        with psycopg.connect(url, autocommit=True) as watcher:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if watcher.execute(
                    "select exists (select 1 from pg_stat_activity where wait_event_type = 'Lock'"
                    " and position('DELETE FROM' in query) > 0)"
                ).fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                holder.close()  # lets the load end, and the test fail below
                return
        private_pg.crash()
        crashed.set()

    # The merge's DELETE waits behind this lock, its COPY into staging done; then the server dies.
    holder = psycopg.connect(url)
    holder.execute(f"lock table {TABLE} in access exclusive mode")
    crasher = threading.Thread(target=crash_when_the_merge_waits, daemon=True)
    crasher.start()
    with pytest.raises(PipelineStepFailed):  # in this thread: dlt's loader handles signals
        pipeline.load()
    crasher.join(timeout=60)
    assert crashed.is_set(), "the server crashed while the merge waited"
    with contextlib.suppress(psycopg.Error):
        holder.close()
    private_pg.start()

    with pytest.raises(PipelineStepFailed, match="emptied by a database restart"):
        pipeline.load()
    assert stored(url) == [("Казань", 1, 3), ("Коледино", 1, 5)]

    pipeline.abort_packages()  # what run_source does with a failed load
    run_source(pipeline, with_unique_keys(stock([("Коледино", 1, 9)])))
    assert stored(url) == [("Казань", 1, 3), ("Коледино", 1, 9)]


def snapshots(at: datetime, rows: list[tuple[str, int, int]]) -> Any:
    @dlt.resource(name="stock", primary_key=("snapshot_at", "warehouse", "sku"), write_disposition=SNAPSHOTS)
    def resource() -> Iterator[pa.Table]:
        warehouse, sku, quantity = zip(*rows, strict=True)
        yield pa.table(
            {
                "snapshot_at": pa.array([at] * len(rows), pa.timestamp("us", "UTC")),
                "warehouse": list(warehouse),
                "sku": list(sku),
                "quantity": list(quantity),
            }
        )

    return resource


@pytest.mark.parametrize("warehouse", ["postgres", "duckdb"])
def test_a_load_replaces_its_snapshot_whole_and_keeps_the_history(
    warehouse: str, pg_url: str, tmp_path: Path
) -> None:
    url = pg_url if warehouse == "postgres" else f"duckdb:///{tmp_path}/w.duckdb"
    pipeline = tenant_pipeline("merge-check", "wildberries", url, tmp_path / "p")
    monday, tuesday = datetime(2026, 11, 30, 9, tzinfo=UTC), datetime(2026, 12, 1, 9, tzinfo=UTC)
    run_source(pipeline, snapshots(monday, [("Коледино", 1, 5), ("Казань", 1, 3)]))
    run_source(pipeline, snapshots(tuesday, [("Коледино", 1, 4), ("Казань", 1, 2)]))
    # Tuesday's sync again (a retried run) no longer sees Казань: the snapshot is what it read,
    # not its earlier rows plus the new ones; Monday's stays as it was.
    run_source(pipeline, snapshots(tuesday, [("Коледино", 1, 1)]))
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select snapshot_at, warehouse, sku, quantity from stock order by 1, 2")
    assert [(r[0].day, *r[1:]) for r in rows] == [
        (30, "Казань", 1, 3),
        (30, "Коледино", 1, 5),
        (1, "Коледино", 1, 1),
    ]


def test_a_snapshot_merge_reads_only_its_snapshot_through_the_index(pg_url: str, tmp_path: Path) -> None:
    pipeline = tenant_pipeline("merge-check", "wildberries", pg_url, tmp_path)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    run_source(pipeline, snapshots(start, [("Коледино", sku, 1) for sku in range(200)]))
    with psycopg.connect(pg_url) as conn:
        # A first load pays for no index; the next merge, with a snapshot to keep, makes it (as
        # for a table an earlier version made).
        assert not conn.execute("select to_regclass('t_merge_check.stock_snapshot_at')").fetchone()[0]
        # Sixty days of history, as an hourly tenant keeps.
        conn.execute(
            f"insert into {TABLE} (snapshot_at, warehouse, sku, quantity)"
            f" select snapshot_at + d * interval '1 day', warehouse, sku, quantity"
            f" from {TABLE}, generate_series(1, 59) d"
        )
    loaded = run_source(pipeline, snapshots(start + timedelta(days=60), [("Казань", 7, 2)]))
    (delete,) = [s for s in merge_job_sql(pipeline, loaded.load_id).splitlines() if s.startswith("DELETE")]
    with psycopg.connect(pg_url) as conn:
        conn.execute(f"analyze {TABLE}")
        (plan,) = conn.execute(f"explain (analyze, verbose, format json) {delete}").fetchone()
        conn.rollback()
        (count,) = conn.execute(f"select count(*) from {TABLE}").fetchone()
    assert count == 60 * 200 + 1  # the history kept, the new snapshot added

    def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    history = [
        n
        for n in nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
        if n.get("Relation Name") == "stock"
        and n.get("Schema") == "t_merge_check"
        and n["Node Type"] != "ModifyTable"  # the DELETE itself, fed by the reads below it
    ]
    # The table is reached through its snapshot index only, and no more than the new snapshot's
    # row comes back: 12 000 rows of history are not read.
    assert history and all(n.get("Index Name") == "stock_snapshot_at" for n in history), history
    assert sum(n["Actual Rows"] * n["Actual Loops"] for n in history) <= 1

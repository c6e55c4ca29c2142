"""The PostgreSQL destination's timestamps: loaded as naive UTC times for speed, stored as the same
instants in `timestamp with time zone` columns whatever the server's default zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dlt
import psycopg
import pyarrow as pa

from pipelines.destination import tenant_pipeline
from pipelines.runner import run_source


def test_timestamps_keep_their_instant_and_zone_type_on_a_server_in_another_zone(
    pg_url: str, tmp_path: Path
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        name = conn.execute("select current_database()").fetchone()[0]
        conn.execute(f"alter database \"{name}\" set timezone = 'Asia/Tokyo'")
    at = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)

    @dlt.resource(name="stamps", primary_key="id", write_disposition="merge")
    def stamps() -> object:
        yield pa.table({"id": [1, 2], "at": pa.array([at, None], pa.timestamp("us", tz="UTC"))})

    pipeline = tenant_pipeline("tz-check", "wildberries", pg_url, tmp_path)
    run_source(pipeline, stamps)
    run_source(pipeline, stamps)  # merged again: still one row per key

    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("select id, at from t_tz_check.stamps order by id").fetchall()
        kind = conn.execute(
            "select data_type from information_schema.columns"
            " where table_schema = 't_tz_check' and table_name = 'stamps' and column_name = 'at'"
        ).fetchone()
    assert rows == [(1, at), (2, None)]
    assert kind == ("timestamp with time zone",)

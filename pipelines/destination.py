"""Where a tenant's marketplace data lands: one dataset (schema) per tenant, one dlt pipeline
per tenant and marketplace, so tenants never share staging tables or pipeline state."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.common.runtime.collector import LogCollector
from dlt.common.time import get_context_timezone_name
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.impl.postgres.configuration import PostgresCredentials
from dlt.extract.resource import DltResource
from sqlalchemy.engine import make_url

# Load files uncompressed: they live for seconds on local disk, and gzip was two thirds of the
# normalize step (bench/bench_ingest.py). An operator's own setting wins.
os.environ.setdefault("NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION", "true")
# Extract one resource to its end before the next starts (dlt's default takes one item from each
# in turn): a resource's JSON documents and rows are then garbage before the next one's arrive,
# instead of every resource's being alive at once (bench/bench_sync.py: 477 → 420 MB at the
# extract of a 10 000 × 40 WB sync). The resources do not run in parallel, so no time is lost.
os.environ.setdefault("EXTRACT__NEXT_ITEM_MODE", "fifo")
# No usage events to dlthub: each run's process would start dlt's tracker (a thread and an HTTPS
# session) and post one event per pipeline step, and wait for them when it exits. Nothing of a
# seller's leaves the platform but their marketplace calls. An operator's own setting wins.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

# A table hint: the resource yields each primary key once a load (it merged the source's repeats
# itself), so the PostgreSQL merge can skip its duplicate check (pipelines/pg_merge.py).
UNIQUE_KEYS = "x-unique-keys"


def with_unique_keys(resource: DltResource) -> DltResource:
    resource.apply_hints(additional_table_hints={UNIQUE_KEYS: True})
    return resource


# The write disposition of a stock snapshot table (one snapshot_at a sync, kept as history): a
# load replaces the snapshots it brings, whole. dlt's default merge deletes by matching every key
# against the whole history (a 10 000 × 40 WB sync: 0.44–0.69 s at 30 snapshots, 1.2–1.7 s at
# 100; bench/bench_history.py, docs/ingestion.md). The bounds give PostgreSQL a range on the
# table's `snapshot_at` index (pipelines/pg_merge.py); the IN keeps the delete exact if a load
# ever held several snapshots.
SNAPSHOT_SCOPE = (
    "snapshot_at >= (SELECT min(snapshot_at) FROM {staging_table})"
    " AND snapshot_at <= (SELECT max(snapshot_at) FROM {staging_table})"
    " AND snapshot_at IN (SELECT snapshot_at FROM {staging_table})"
)
SNAPSHOTS: Any = {"disposition": "merge", "strategy": "delete-insert", "destination_scope": SNAPSHOT_SCOPE}


TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")


def dataset_name(tenant: str) -> str:
    """`t_<tenant>`; tenant ids are slugs (lowercase letters, digits, `-`, `_`)."""
    if not TENANT_PATTERN.match(tenant):
        raise ValueError(f"tenant id {tenant!r} must be a slug of lowercase letters, digits, - and _")
    return "t_" + tenant.replace("-", "_")


def destination_from_url(url: str) -> Destination:
    """`duckdb:///path/to/file.duckdb` or `postgresql://user@host:port/db`."""
    if url.startswith("duckdb:///"):
        path = Path(url.removeprefix("duckdb:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        # One DuckDB thread for the load: each thread keeps its own buffers, and on a small
        # embedded install the extra threads raised a sync's peak memory more than its speed.
        credentials = DuckDbCredentials(str(path), global_config={"threads": 1})
        # One load job at a time: dlt ran every table's copy and merge at once, each holding its
        # own DuckDB buffers (10 000 × 40 WB sync, bench/bench_sync.py: the load's peak +95 →
        # +30 MB over its start, ~0.1 s slower). `[load] parallelism_strategy` overrides it.
        return dlt.destinations.duckdb(credentials, loader_parallelism_strategy="sequential")
    if url.startswith(("postgresql://", "postgres://")):
        parsed = make_url(url.replace("postgres://", "postgresql://", 1))
        if parsed.password is None:
            # dlt insists on a password; servers with trust or peer auth ignore it.
            parsed = parsed.set(password="unused")
        # Imported here: dlt's PostgreSQL client (psycopg2) is not needed by a DuckDB warehouse's
        # run processes, which all pay for what they import (docs/scale.md).
        from pipelines import pg_merge

        credentials = PostgresCredentials()
        credentials.parse_native_representation(parsed.render_as_string(hide_password=False))
        zone_set_elsewhere = "timezone" in str(credentials.query or {}).lower() or os.environ.get("PGTZ")
        if get_context_timezone_name() != "UTC" or zone_set_elsewhere:
            return pg_merge.KeyCheckedPostgres(credentials)
        # Arrow's CSV writer formats zone-aware timestamps ~15× slower than naive ones: that was
        # most of the normalize step (bench/bench_ingest.py, docs/ingestion.md). So dlt hands COPY
        # naive UTC wall-clock times (a destination "without" zone support gets its context zone's
        # wall clock, UTC here) and every load session reads them in UTC. dlt leaves the zone out
        # of the DDL hint either way, so the columns stay `timestamp with time zone` holding the
        # same instants. Another context zone, or a session zone set in the URL's `options` or in
        # PGTZ (which libpq applies over `options`), keeps dlt's default: naive times could be
        # ambiguous at a DST change, or be read in another zone.
        credentials.session_timezone = "UTC"
        return pg_merge.KeyCheckedPostgres(credentials, supports_tz_aware_datetime=False)
    raise ValueError(
        f"unsupported warehouse URL {url.split(':', 1)[0]}: use duckdb:///FILE or postgresql://…"
    )


def tenant_pipeline(tenant: str, marketplace: str, warehouse_url: str, pipelines_dir: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"{marketplace}_{tenant.replace('-', '_')}",
        destination=destination_from_url(warehouse_url),
        dataset_name=dataset_name(tenant),
        pipelines_dir=str(pipelines_dir),
        # Progress goes to the `stock_tracker.dlt` logger (Dagster's log when in a run), not stdout.
        progress=LogCollector(
            log_period=10.0, logger=logging.getLogger("stock_tracker.dlt"), dump_system_stats=False
        ),
    )


def loader_file_format(pipeline: dlt.Pipeline) -> str | None:
    """How the load step hands rows to the warehouse. PostgreSQL: CSV through `COPY … FROM STDIN`
    (dlt's default there is multi-row INSERT statements, ~8× slower than COPY on the same rows,
    bench/bench_ingest.py); the resources yield Arrow tables, which dlt writes as CSV without a
    row-by-row pass. The staging tables and merge SQL are dlt's either way. DuckDB: dlt's default
    (Parquet for Arrow tables)."""
    return "csv" if pipeline.destination.destination_name == "postgres" else None

"""dlt's PostgreSQL destination with one change to its `delete-insert` merge: the staging rows are
sorted for deduplication only when two of them share a key.

dlt inserts the staging rows into the final table through `ROW_NUMBER() OVER (PARTITION BY key)`,
which sorts every staging row by the key (text keys under the database's collation): two thirds
of the merge's time on a 10 000 × 40 WB sync (the INSERT, fastest of 5: stock 267 → 172 ms, orders
173 → 93 ms; docs/ingestion.md). A duplicate key in staging is rare (a source emitting a
key twice, or a load job replayed after a crash, which copies its file into staging again), but it
must stay deduplicated. So the INSERT's SELECT first asks one hashed `GROUP BY key HAVING count(*) >
1` whether staging holds a duplicate, and then runs either the plain SELECT dlt uses for data
declared deduplicated or dlt's own `ROW_NUMBER()` SELECT, unchanged. Either way the rows inserted
are those dlt's SQL inserts; the DELETE, staging tables, schema handling and load jobs are dlt's.

Its merge tables' staging copies are `UNLOGGED`: the COPY into staging writes no WAL, which was a
quarter of the load's COPY time (bench/bench_ingest.py, docs/ingestion.md). The final tables stay
logged. An unlogged table is emptied when the server recovers from a crash, so a load resumed
after one could merge an emptied staging table and lose that sync's rows without an error. Each
load therefore arms its staging tables in an unlogged marker table when it truncates them, and a
merge first checks its table is still armed: crash recovery empties the marker too, a resumed
load never re-arms it, and the merge then fails, leaving the final table as it was.

A resource that yields one row per primary key (`destination.with_unique_keys`) skips even the
duplicate check (≈ 40 ms of the stock table's merge, 30 ms of the orders'), but only while every
load job of its table ran once: a job retried or resumed after a crash may have copied its file
into staging twice, so its merge checks again.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import dlt
from dlt.common.destination.capabilities import DestinationCapabilitiesContext
from dlt.common.destination.client import FollowupJobRequest, PreparedTableSchema
from dlt.common.destination.reference import DestinationReference
from dlt.common.normalizers.naming import NamingConvention
from dlt.common.schema.typing import TSortOrder
from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable
from dlt.common.storages.load_package import (
    LoadJobInfo,
    ParsedLoadJobFileName,
    commit_load_package_state,
    load_package_state,
)
from dlt.destinations.impl.postgres.configuration import PostgresClientConfiguration
from dlt.destinations.impl.postgres.postgres import PostgresClient
from dlt.destinations.sql_client import SqlClientBase
from dlt.destinations.sql_jobs import SqlMergeFollowupJob

from pipelines.destination import SNAPSHOT_SCOPE, UNIQUE_KEYS

DUPLICATE_CTE = "_dlt_staging_duplicates"
# In each staging dataset: one row per staging table armed by a load since the last crash recovery.
ARMED_TABLE = "_staging_armed"
# In a load package's state: tables one of whose load jobs was retried or resumed.
COPIED_AGAIN = "x-copied-again"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class KeyCheckedMergeJob(SqlMergeFollowupJob):
    keys_unique: ClassVar[bool] = False

    @classmethod
    def generate_sql(
        cls, table_chain: Sequence[PreparedTableSchema], sql_client: SqlClientBase[Any]
    ) -> list[str]:
        table = table_chain[0]["name"]
        with sql_client.with_staging_dataset():
            armed = sql_client.make_qualified_table_name(ARMED_TABLE)
        # Refuses before the DELETE: the final table keeps its rows (data_exception: dlt fails
        # the job at once instead of retrying it).
        check = (
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM {armed} WHERE table_name = {_literal(table)})"
            " THEN RAISE EXCEPTION USING ERRCODE = 'data_exception', MESSAGE ="
            f" {_literal(f'staging table {table} was emptied by a database restart during this load')};"
            " END IF; END $$"
        )
        index = _snapshot_index(table_chain[0], sql_client)
        return [check, *index, *super().generate_sql(table_chain, sql_client)]

    @classmethod
    def gen_select_from_dedup_sql(
        cls,
        table_name: str,
        primary_keys: Sequence[str],
        columns: Sequence[str],
        dedup_sort: tuple[str, TSortOrder] | None = None,
        condition: str | None = None,
        condition_columns: Sequence[str] | None = None,
        skip_dedup: bool = False,
    ) -> str:
        def dlt_select(skip: bool) -> str:
            return super(KeyCheckedMergeJob, cls).gen_select_from_dedup_sql(
                table_name, primary_keys, columns, dedup_sort, condition, condition_columns, skip
            )

        if skip_dedup or cls.keys_unique or not primary_keys:
            return dlt_select(skip_dedup or cls.keys_unique)
        # The CTE is referenced twice, so PostgreSQL computes it once; each branch's condition is
        # a constant for the statement (a one-time filter), so the other branch's plan, with its
        # sort, never runs.
        return (
            f"WITH {DUPLICATE_CTE} AS (SELECT EXISTS (SELECT 1 FROM {table_name}"
            f" GROUP BY {', '.join(primary_keys)} HAVING count(*) > 1) AS found)"
            f" SELECT * FROM ({dlt_select(True)}) AS _dlt_unique_keys"
            f" WHERE NOT (SELECT found FROM {DUPLICATE_CTE})"
            f" UNION ALL SELECT * FROM ({dlt_select(False)}) AS _dlt_deduplicated"
            f" WHERE (SELECT found FROM {DUPLICATE_CTE})"
        )


def _snapshot_index(table: PreparedTableSchema, sql_client: SqlClientBase[Any]) -> list[str]:
    """For a stock snapshot table (`destination.SNAPSHOTS`): its btree on `snapshot_at`, made by
    the first merge that finds it missing and the table holding a snapshot already (tables made
    before it get it at their next load).

    The merge's DELETE then reads only the snapshot it replaces, and the reads of the newest
    snapshot (`max(snapshot_at)`, the mart and the supply guard) stop scanning the history
    (bench/bench_history.py). Not before the second load: into an empty table the index only
    costs (a first 10 000 × 40 WB load: 0.43 → 0.50 s), and its DELETE has nothing to scan."""
    if table.get("x-merge-destination-scope") != SNAPSHOT_SCOPE:
        return []
    name = sql_client.capabilities.escape_identifier(f"{table['name']}_snapshot_at")
    qualified = f"{sql_client.fully_qualified_dataset_name()}.{name}"
    stock = sql_client.make_qualified_table_name(table["name"])
    return [
        f"DO $$ BEGIN IF to_regclass({_literal(qualified)}) IS NULL AND EXISTS (SELECT 1 FROM {stock})"
        f" THEN CREATE INDEX {name} ON {stock} (snapshot_at); END IF; END $$"
    ]


class UniqueKeysMergeJob(KeyCheckedMergeJob):
    """For staging rows known to hold each key once: dlt's SELECT for deduplicated data."""

    keys_unique = True


def _package_state() -> dict[str, Any] | None:
    try:
        return load_package_state()["state"]  # type: ignore[return-value]
    except CurrentLoadPackageStateNotAvailable:
        return None


def _copied_once(table: str, jobs: Sequence[LoadJobInfo] | None) -> bool:
    """Whether each of the table's load jobs in this package ran once. Unknown counts as no."""
    if not jobs or any(job.job_file_info.retry_count for job in jobs):
        return False
    state = _package_state()
    return state is not None and table not in state.get(COPIED_AGAIN, [])


class KeyCheckedPostgresClient(PostgresClient):
    _copied_once = False

    def create_load_job(
        self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
    ) -> Any:
        if restore or ParsedLoadJobFileName.parse(file_path).retry_count:
            state = _package_state()
            if state is not None and table["name"] not in state.setdefault(COPIED_AGAIN, []):
                state[COPIED_AGAIN].append(table["name"])
                commit_load_package_state()
        return super().create_load_job(table, file_path, load_id, restore)

    def create_table_chain_completed_followup_jobs(
        self,
        table_chain: Sequence[PreparedTableSchema],
        completed_table_chain_jobs: Sequence[LoadJobInfo] | None = None,
    ) -> list[FollowupJobRequest]:
        self._copied_once = _copied_once(table_chain[0]["name"], completed_table_chain_jobs)
        return super().create_table_chain_completed_followup_jobs(table_chain, completed_table_chain_jobs)

    def _make_create_table(self, qualified_name: str, table: PreparedTableSchema) -> str:
        sql = super()._make_create_table(qualified_name, table)
        if self.in_staging_dataset_mode and table.get("write_disposition") == "merge":
            return sql.replace("CREATE TABLE", "CREATE UNLOGGED TABLE", 1)
        return sql

    def initialize_storage(self, truncate_tables: Iterable[str] | None = None) -> None:
        super().initialize_storage(truncate_tables)
        if not (self.in_staging_dataset_mode and truncate_tables):
            return
        merged = [
            t for t in truncate_tables if self.prepare_load_table(t).get("write_disposition") == "merge"
        ]
        if not merged:
            return
        sql = self.sql_client
        armed = sql.make_qualified_table_name(ARMED_TABLE)
        statements = [f"CREATE UNLOGGED TABLE IF NOT EXISTS {armed} (table_name text PRIMARY KEY)"]
        # Staging tables made by an earlier version are logged: each turns unlogged once, at its
        # next load (empty then, so the rewrite is cheap); the look-up is one catalog query.
        logged = sql.execute_sql(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relpersistence = 'p' AND c.relname = ANY(%s)",
            sql.dataset_name,
            merged,
        )
        statements += [
            f"ALTER TABLE {sql.make_qualified_table_name(name)} SET UNLOGGED" for (name,) in logged or []
        ]
        statements += [
            f"INSERT INTO {armed} (table_name) VALUES ({_literal(t)}) ON CONFLICT DO NOTHING" for t in merged
        ]
        sql.execute_many(statements)

    def _create_merge_followup_jobs(
        self, table_chain: Sequence[PreparedTableSchema]
    ) -> list[FollowupJobRequest]:
        unique = table_chain[0].get(UNIQUE_KEYS) and len(table_chain) == 1 and self._copied_once
        job = UniqueKeysMergeJob if unique else KeyCheckedMergeJob
        return [job.from_table_chain(table_chain, self.sql_client)]


class KeyCheckedPostgres(dlt.destinations.postgres):
    """dlt's `postgres` destination, its merge jobs `KeyCheckedMergeJob`. It keeps dlt's type
    (`dlt.destinations.postgres`): config sections, pipeline state and capabilities see the
    stock destination."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._capabilities: dict[tuple[Any, ...], DestinationCapabilitiesContext] = {}
        self._raw: DestinationCapabilitiesContext | None = None
        super().__init__(*args, **kwargs)

    def capabilities(
        self,
        config: PostgresClientConfiguration | None = None,
        naming: NamingConvention | None = None,
    ) -> DestinationCapabilitiesContext:
        """dlt asks ~40 times a sync, each time resolving the destination's configuration from
        scratch: 25–50 ms of CPU a sync, beside PostgreSQL on the same cores. Without an explicit
        configuration the answer depends only on this destination's settings and the naming
        convention, so each is worked out once; callers get their own copy."""
        if config is not None:
            return super().capabilities(config, naming)
        key = (type(naming), naming.is_case_sensitive, naming.max_length) if naming else ()
        if key not in self._capabilities:
            self._capabilities[key] = super().capabilities(None, naming)
        return copy.copy(self._capabilities[key])

    def _raw_capabilities(self) -> DestinationCapabilitiesContext:
        # dlt's looks for the ADBC driver by importing it, a failed import each time when absent.
        if self._raw is None:
            self._raw = super()._raw_capabilities()
        return copy.copy(self._raw)

    @property
    def destination_type(self) -> str:
        return DestinationReference.normalize_type("postgres")

    @property
    def client_class(self) -> type[PostgresClient]:
        return KeyCheckedPostgresClient

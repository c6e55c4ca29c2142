"""Stock history benchmark: what a WB sync into PostgreSQL costs once the stock table holds many
snapshots (each sync adds one; DESIGN keeps them as history).

    uv run python bench/bench_history.py [--skus 10000] [--warehouses 40] [--snapshots 30] [--syncs 3]

One real sync against the sandbox (limits 1000× faster) fills `wb_stock`; its snapshot is copied
back in time to `--snapshots` in all, then `--syncs` more syncs run. For each it prints dlt's
normalize + load seconds and, on the rows that load left in staging, the stock merge's DELETE
timed both ways in a rolled-back transaction: the scoped one the loader ran (`destination.
SNAPSHOTS`) and dlt's default, matching every key against the history. Then the newest-snapshot
reads the mart and the supply guard make each sync.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import psycopg
from bench_ingest import ADMIN, SCALE, sync

from sandbox.generate import generate_scenario
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer

TABLE, STAGING = "t_hist.wb_stock", "t_hist_staging.wb_stock"
KEY = ("snapshot_at", "chrt_id", "warehouse_kind", "warehouse_name")


def timed(conn: psycopg.Connection, sql: str, setup: str | None = None) -> float:
    """Milliseconds of `sql` after `setup`, both rolled back."""
    if setup:
        conn.execute(setup)
    started = time.perf_counter()
    conn.execute(sql)
    elapsed = (time.perf_counter() - started) * 1000
    conn.rollback()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--warehouses", type=int, default=40)
    parser.add_argument("--snapshots", type=int, default=30)
    parser.add_argument("--syncs", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-history-"))
    scenario = parse_scenario(
        orjson.dumps(generate_scenario(sellers=1, skus=args.skus, warehouses=args.warehouses, seed=1))
    )
    token = scenario["sellers"][0]["credentials"]["token"]
    db = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'create database "{db}"')
    pg = ADMIN.rsplit("/", 1)[0] + "/" + db
    keyed = " AND ".join(f"d.{c} = s.{c}" for c in KEY)
    dlt_delete = f"DELETE FROM {TABLE} AS d WHERE EXISTS (SELECT 1 FROM {STAGING} AS s WHERE {keyed})"
    try:
        with SandboxServer(scenario, time_scale=SCALE) as server:
            sync(server, token, pg, workdir, "hist")
            with psycopg.connect(pg) as conn:
                columns = [
                    r[0]
                    for r in conn.execute(
                        "select column_name from information_schema.columns where table_schema = 't_hist'"
                        " and table_name = 'wb_stock' and column_name <> 'snapshot_at'"
                    )
                ]
                names = ", ".join(f'"{c}"' for c in columns)
                started = time.perf_counter()
                conn.execute(
                    f"insert into {TABLE} (snapshot_at, {names}) select snapshot_at - k * interval '1 hour',"
                    f" {names} from {TABLE}, generate_series(1, {args.snapshots - 1}) k"
                )
                conn.commit()
                conn.autocommit = True
                conn.execute(f"vacuum analyze {TABLE}")
                (rows,) = conn.execute(f"select count(*) from {TABLE}").fetchone()
                made = time.perf_counter() - started
                print(f"history: {rows} stock rows, {args.snapshots} snapshots ({made:.0f} s to make)")
            print(f"{'sync':<6}{'normalize+load s':>18}{'DELETE scoped ms':>18}{'DELETE by key ms':>18}")
            writes, scoped, by_key = [], [], []
            for n in range(args.syncs):
                _, _, write, _, loaded = sync(server, token, pg, workdir, "hist")
                with psycopg.connect(pg) as conn:
                    index = conn.execute(
                        "select count(*) from pg_indexes"
                        " where schemaname = 't_hist' and tablename = 'wb_stock'"
                    ).fetchone()[0]
                    scope = (
                        f"DELETE FROM {TABLE} WHERE snapshot_at >= (SELECT min(snapshot_at) FROM {STAGING})"
                        f" AND snapshot_at <= (SELECT max(snapshot_at) FROM {STAGING})"
                        f" AND snapshot_at IN (SELECT snapshot_at FROM {STAGING})"
                    )
                    # As when the loader ran it: staging holds a snapshot the table does not have yet.
                    ahead = f"UPDATE {STAGING} SET snapshot_at = snapshot_at + interval '1 minute'"
                    ms_scoped, ms_key = timed(conn, scope, ahead), timed(conn, dlt_delete, ahead)
                writes.append(write)
                scoped.append(ms_scoped)
                by_key.append(ms_key)
                print(
                    f"{n + 1:<6}{write:>18.2f}{ms_scoped:>18.0f}{ms_key:>18.0f}"
                    f"   ({loaded['wb_stock']} stock rows; {index} index(es) on wb_stock)"
                )
            with psycopg.connect(pg) as conn:
                newest = f"select max(snapshot_at) from {TABLE}"
                latest = f"select count(*) from {TABLE} where snapshot_at = ({newest})"
                reads = [(timed(conn, newest), timed(conn, latest)) for _ in range(5)]
        load = Path("/proc/loadavg").read_text()[:14]
        print(
            f"median of {args.syncs}: normalize + load {statistics.median(writes):.2f} s; "
            f"stock DELETE scoped {statistics.median(scoped):.0f} ms,"
            f" by key {statistics.median(by_key):.0f} ms"
        )
        print(
            f"newest-snapshot reads: max(snapshot_at) {min(r[0] for r in reads):.1f} ms, "
            f"its rows {min(r[1] for r in reads):.1f} ms (best of 5); load average {load}"
        )
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{db}" with (force)')


if __name__ == "__main__":
    main()

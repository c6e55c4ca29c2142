"""Publishing benchmark: Google Sheets calls per publish of our publisher vs the predecessor's pattern,
counted on one sandbox, and the time to publish a 10 000 × 60 grid.

    uv run python bench/bench_publish.py [--products 10000] [--warehouses 17]

The predecessor (Stock-Tracker-) did per publish: `open_by_key` + `worksheet(title)` (two metadata
reads), `resize`, a values batch update, `freeze` (three writes) and a Drive permission list. Ours:
one metadata read, one atomic batchUpdate per worksheet (chunks past 2 MB), nothing when unchanged.
Quotas run 1000× faster so pacing does not hide the cost. "wall s" is client + the in-process
sandbox on loopback (not Google's latency); "client CPU s" is the publishing thread's own CPU.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gspread
import polars as pl
import requests

from resources.sheets import DRIVE_HOST, SHEETS_HOST, RewritingSession, SheetsPublisher
from sandbox.server import SandboxServer
from warehouse.app_db import migrate
from warehouse.sheet_layout import SheetGrid, build_grid

SA = "stock-tracker@bench.iam.gserviceaccount.com"
SCALE = 1000.0


def stock_frame(products: int, warehouses: int, seed: int) -> pl.DataFrame:
    """Every product at every warehouse: the widest grid for the size."""
    index = pl.int_range(0, products * warehouses, eager=True)
    product, warehouse = pl.col("p"), pl.col("w")
    return (
        pl.DataFrame({"p": index // warehouses, "w": index % warehouses})
        .with_columns(
            (100_000_000 + product).alias("product_id"),
            pl.format("ART-{}", product.cast(pl.String).str.zfill(6)).alias("article"),
            pl.lit("BRAND").alias("brand"),
            pl.lit("Пищевые добавки").alias("subject"),
            pl.format("Склад {}", warehouse.cast(pl.String).str.zfill(2)).alias("warehouse_name"),
            pl.lit("FBO").alias("warehouse_kind"),
            ((product * 7 + warehouse * 3 + seed) % 50).alias("stock"),
            (product % 4).alias("in_way_to_client"),
            (warehouse % 2).alias("in_way_from_client"),
            ((product + warehouse + seed) % 6).alias("orders"),
        )
        .drop("p", "w")
    )


def grid(products: int, warehouses: int, seed: int = 0) -> SheetGrid:
    return build_grid(stock_frame(products, warehouses, seed), marketplace="wildberries")


def predecessor_publish(client: gspread.Client, book_id: str, sheet: SheetGrid) -> None:
    book = client.open_by_key(book_id)  # metadata read 1
    tab = book.worksheet(sheet.title)  # metadata read 2
    tab.resize(rows=len(sheet.rows) + 2, cols=sheet.width)
    values = [["" if v is None else v for v in row] for row in (sheet.top_header, sheet.header, *sheet.rows)]
    book.values_batch_update(
        {"valueInputOption": "USER_ENTERED", "data": [{"range": f"'{sheet.title}'!A1", "values": values}]}
    )
    tab.freeze(rows=2, cols=4)
    client.list_permissions(book_id)  # Drive


class Counted:
    def __init__(self, server: SandboxServer) -> None:
        self.control = server.control_url

    def __enter__(self) -> Counted:
        requests.delete(self.control + "/requests", timeout=10).raise_for_status()
        self.started, self.cpu_started = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        # This thread only: the publisher's own work, not the in-process sandbox's.
        self.cpu = time.thread_time() - self.cpu_started
        log = requests.get(self.control + "/requests", timeout=10).json()
        self.counts: Counter[str] = Counter()
        for entry in log:
            if entry["service"] == "sheets":
                self.counts["reads" if entry["method"] == "GET" else "writes"] += 1
            else:
                self.counts[entry["service"]] += 1


def row(pattern: str, case: str, counted: Counted) -> list[Any]:
    c = counted.counts
    calls = [c["reads"], c["writes"], c["drive"], sum(c.values())]
    return [pattern, case, *calls, f"{counted.seconds:.2f}", f"{counted.cpu:.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--warehouses", type=int, default=17, help="17 groups → 9 + 3·17 = 60 columns")
    args = parser.parse_args()

    # The in-process sandbox parses requests in this interpreter: keep gen-2 collections from
    # rescanning every imported module's objects in the middle of a timed publish.
    gc.freeze()
    table: list[list[Any]] = []
    with tempfile.TemporaryDirectory() as scratch, SandboxServer(time_scale=SCALE) as server:
        app_url = f"sqlite:///{Path(scratch) / 'app.db'}"
        migrate(app_url)
        ours = SheetsPublisher(
            api_url=server.urls["sheets"],
            service_account_email=SA,
            app_database_url=app_url,
            time_scale=SCALE,
        )
        hosts = {SHEETS_HOST: server.urls["sheets"], DRIVE_HOST: server.urls["drive"]}
        theirs = gspread.Client(auth=None, session=RewritingSession(hosts, f"sa:{SA}"))  # type: ignore[arg-type]
        for book in ("ours", "theirs"):
            spec = {"id": book, "editors": [SA], "sheets": [{"title": "Заметки"}, {"title": "Wildberries"}]}
            requests.post(
                server.control_url + "/sheets/spreadsheets", json=spec, timeout=10
            ).raise_for_status()

        small, small_changed = grid(200, 8), grid(200, 8, seed=1)
        digests: dict[str, str] = {}
        for case, sheet in (("first", small), ("unchanged", small), ("changed", small_changed)):
            with Counted(server) as counted:
                digests = ours.publish("ours", [sheet], digests).digests()
            table.append(row("ours", f"200×{small.width} {case}", counted))
        for case, sheet in (("first", small), ("unchanged", small), ("changed", small_changed)):
            with Counted(server) as counted:
                predecessor_publish(theirs, "theirs", sheet)
            table.append(row("predecessor", f"200×{small.width} {case}", counted))

        started = time.perf_counter()
        big = grid(args.products, args.warehouses)
        build_seconds = time.perf_counter() - started
        big_changed = grid(args.products, args.warehouses, seed=1)
        size = f"{len(big.rows)}×{big.width}"
        digests = {}
        for case, sheet in (("first", big), ("changed", big_changed), ("unchanged", big_changed)):
            with Counted(server) as counted:
                digests = ours.publish("ours", [sheet], digests).digests()
            table.append(row("ours", f"{size} {case}", counted))
        for case, sheet in (("first", big), ("changed", big_changed)):
            with Counted(server) as counted:
                predecessor_publish(theirs, "theirs", sheet)
            table.append(row("predecessor (values only)", f"{size} {case}", counted))

    headers = ["pattern", "publish", "reads", "writes", "drive", "calls", "wall s", "client CPU s"]
    widths = [max(len(str(r[i])) for r in [headers, *table]) for i in range(len(headers))]
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for line in table:
        print(" | ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)))
    print(f"\nbuild_grid for {size}: {build_seconds:.2f} s (not included above)")
    print(
        "Google's quota is 60 reads + 60 writes per minute per service account: the predecessor spends "
        "2 reads + 3 writes on every publish, ours 1 read + 1 write (0 writes when unchanged)."
    )


if __name__ == "__main__":
    main()

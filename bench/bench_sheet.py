"""Sheet benchmark: building the grid (DESIGN §6) for a large seller, its Google Sheets payload and
the XLSX/CSV writes, at two sizes side by side so the ratios show how each step scales.

    uv run python bench/bench_sheet.py [--products 1000 10000] [--warehouses 60]

Memory: "RSS peak" is the process high-water mark from getrusage (ru_maxrss), read before and after
the build — it counts Polars' native buffers, but a peak reached earlier (by synthesis) hides
smaller steps; "Py heap peak" is tracemalloc during a second, untimed build — Python objects only
(the `rows` lists), not Polars' Rust allocations.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import polars as pl

from warehouse.sheet_files import write_csv, write_xlsx
from warehouse.sheet_layout import SheetGrid, build_grid, to_sheets_rows

SHEETS_REQUEST_LIMIT = 2 * 1024 * 1024  # DESIGN §6: one batchUpdate while the payload fits 2 MB
T = TypeVar("T")


def synthesize(products: int, warehouses: int, seed: int = 7) -> pl.DataFrame:
    """Each product at 8–15 warehouses, popular warehouses far more often (Zipf-like weights), one
    FBS warehouse in twelve, a TRANSIT row per product; many zeros, as in a real cabinet."""
    rng = random.Random(seed)
    names = [(f"Склад {i:02d}", "FBS" if i % 12 == 11 else "FBO") for i in range(warehouses)]
    weights = [1 / (i + 1) for i in range(warehouses)]
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "product_id",
            "article",
            "brand",
            "subject",
            "warehouse_name",
            "warehouse_kind",
            "stock",
            "in_way_to_client",
            "in_way_from_client",
            "orders",
        )
    }

    def add(pid: int, name: str, kind: str, stock: int, to: int, back: int, orders: int) -> None:
        for key, value in zip(
            rows,
            (pid, f"ART-{pid % 997:03d}-{pid}", "Бренд", "Предмет", name, kind, stock, to, back, orders),
            strict=True,
        ):
            rows[key].append(value)

    for p in range(products):
        pid = 100_000_000 + p
        # Weighted sampling without replacement (Efraimidis–Spirakis keys u^(1/w)).
        count = rng.randint(8, 15)
        picked = sorted(range(warehouses), key=lambda i: -(rng.random() ** (1 / weights[i])))[:count]
        for i in picked:
            stock = 0 if rng.random() < 0.2 else rng.randint(1, 500)
            orders = 0 if rng.random() < 0.4 else rng.randint(1, 60)
            add(pid, *names[i], stock, 0, 0, orders)
        add(pid, "", "TRANSIT", 0, rng.randint(0, 20), rng.randint(0, 5), 0)
    return pl.DataFrame(rows).with_columns(pl.lit("wildberries").alias("marketplace"))


def timed(step: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = step()
    return time.perf_counter() - started, result


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def payload_bytes(grid: SheetGrid) -> int:
    """The `batchUpdate` body with one `updateCells` request carrying every cell of the grid."""
    request = {
        "updateCells": {
            "start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0},
            "rows": to_sheets_rows(grid),
            "fields": "userEnteredValue",
        }
    }
    return len(orjson.dumps({"requests": [request]}))


def measure(products: int, warehouses: int, workdir: Path) -> dict[str, float]:
    metrics = synthesize(products, warehouses)
    rss_before = rss_mb()
    build_s, grid = timed(lambda: build_grid(metrics, marketplace="wildberries"))
    rss_after = rss_mb()
    tracemalloc.start()
    build_grid(metrics, marketplace="wildberries")
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    digest_s, _ = timed(grid.digest)
    payload_s, size = timed(lambda: payload_bytes(grid))
    xlsx_s, _ = timed(lambda: write_xlsx([grid], workdir / f"{products}.xlsx"))
    csv_s, _ = timed(lambda: write_csv(grid, workdir / f"{products}.csv"))
    return {
        "metric rows": metrics.height,
        "groups": len(grid.groups),
        "cells": len(grid.rows) * grid.width,
        "build s": build_s,
        "RSS peak MB": rss_after,
        "RSS growth MB": rss_after - rss_before,
        "Py heap peak MB": heap_peak,
        "digest s": digest_s,
        "payload s": payload_s,
        "payload MB": size / 2**20,
        "2 MB chunks": -(-size // SHEETS_REQUEST_LIMIT),
        "xlsx s": xlsx_s,
        "xlsx MB": (workdir / f"{products}.xlsx").stat().st_size / 2**20,
        "csv s": csv_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--warehouses", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        results = {n: measure(n, args.warehouses, Path(workdir)) for n in args.products}
    sizes = list(results)
    header = f"{'':16}" + "".join(f"{n:>12,}" for n in sizes)
    if len(sizes) > 1:
        header += f"{'ratio':>10}"
    print(f"products × {args.warehouses} warehouses (each product at 8–15)")
    print(header)
    for key in results[sizes[0]]:
        values = [results[n][key] for n in sizes]
        line = f"{key:16}" + "".join(f"{v:>12,.2f}" if isinstance(v, float) else f"{v:>12,}" for v in values)
        if len(sizes) > 1 and values[0]:
            line += f"{values[-1] / values[0]:>10.1f}"
        print(line)


if __name__ == "__main__":
    main()

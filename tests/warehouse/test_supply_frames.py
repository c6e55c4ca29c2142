"""The supply plan's inputs read from DuckDB as frames (through Arrow) equal the ones read as rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from warehouse.mart import Mart
from warehouse.supply_mart import read_supply_inputs


def test_frames_equal_rows(tmp_path: Path) -> None:
    mart = Mart(f"duckdb:///{tmp_path}/t.duckdb", "acme")
    try:
        mart.ensure_schema()
        at = datetime(2026, 11, 30, 12, tzinfo=UTC)
        for i in range(300):
            mart.rows(
                "insert into mart.stock_metrics values ($t, $m, $at, 14, $p, $a, 'B', 'S', $title, $w, $k, "
                "$stock, 0, $back, $orders, null)",
                {
                    "t": "acme",
                    "m": "wildberries" if i % 3 else "ozon",
                    "at": at,
                    "p": 1000 + i // 4,
                    "a": f"art-{i // 4}" if i % 7 else None,
                    "title": f"Товар {i}",
                    "w": f"Склад {i % 4}",
                    "k": "FBO" if i % 5 else "FBS",
                    "stock": i * 3,
                    "back": i % 2,
                    "orders": i % 11,
                },
            )
        mart.rows(
            "insert into mart.ozon_cluster_stock values ('acme', $at, 7, 'W', 1, 'C', 3, 2, 1, 0.5, null)",
            {"at": at},
        )

        as_rows = read_supply_inputs(*mart.supply_readers())
        as_frames = read_supply_inputs(*mart.supply_readers(), frames=mart.supply_frames())
    finally:
        mart.close()

    for left, right in zip(as_rows[:3], as_frames[:3], strict=True):
        assert isinstance(right, pl.DataFrame)
        assert right.schema == left.schema
        assert right.equals(left)
    assert as_rows[0].height == 300 and as_rows[1].height == 1
    assert as_rows[3] == as_frames[3] == 14

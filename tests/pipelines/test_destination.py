"""The PostgreSQL sessions dlt loads through: room for the merge's sorts, an operator's say kept."""

from __future__ import annotations

from pathlib import Path

from pipelines.destination import LOAD_WORK_MEM, tenant_pipeline


def load_session_work_mem(url: str, tmp_path: Path) -> str:
    pipeline = tenant_pipeline("acme-shop", "wildberries", url, tmp_path)
    with pipeline.sql_client() as client:
        return client.execute_sql("show work_mem")[0][0]


def test_load_sessions_sort_in_memory_unless_the_operator_says_otherwise(pg_url: str, tmp_path: Path) -> None:
    # PostgreSQL's 4 MB default spilled the merge of a 10 000-SKU sync to disk.
    assert load_session_work_mem(pg_url, tmp_path / "a") == LOAD_WORK_MEM
    assert load_session_work_mem(pg_url + "?options=-cwork_mem%3D8MB", tmp_path / "b") == "8MB"

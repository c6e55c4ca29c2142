"""The one job: a tenant's full sync, from the marketplaces to the stock model."""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetSelection,
    Backoff,
    RetryPolicy,
    define_asset_job,
    in_process_executor,
    multiprocess_executor,
)

from assets.ingest import RAW_KEYS

SYNC_JOB = "tenant_sync"
TIER_PRIORITY = {"starter": 0, "pro": 5, "enterprise": 10}
MODEL_KEYS = [
    AssetKey("stock_snapshot"),
    AssetKey("orders_window"),
    AssetKey("stock_metrics"),
    AssetKey("supply_guard"),
    AssetKey("sheet_layout"),
    AssetKey("supply_plan"),
    AssetKey("sheet_files"),
    AssetKey("sheet_publication"),
    AssetKey("supply_plan_publication"),
    AssetKey("telegram_report"),
]


def sync_selection(marketplaces: tuple[str, ...] | list[str]) -> list[AssetKey]:
    """The assets a tenant's run materializes: its connected marketplaces, then the model."""
    return [k for m in ("wildberries", "ozon") if m in marketplaces for k in RAW_KEYS[m]] + MODEL_KEYS


def sync_tags(tenant: str, tier: str, trigger: str) -> dict[str, str]:
    # `tenant` limits runs to one per tenant (dagster.yaml); priority puts enterprise first.
    return {"tenant": tenant, "tier": tier, "trigger": trigger, "dagster/priority": str(TIER_PRIORITY[tier])}


def build_sync_job(retry_delay_seconds: float, executor: str = "in_process"):  # type: ignore[no-untyped-def]
    return define_asset_job(
        SYNC_JOB,
        selection=AssetSelection.groups("wildberries_raw", "ozon_raw", "stock_model", "sheet", "telegram"),
        description="Sync one tenant: Wildberries and Ozon raw data, stock snapshot, orders window, metrics, "
        "sheet, Telegram report.",
        # Transient failures (the marketplace down for minutes) get another go; refused keys do not
        # (they raise Failure(allow_retries=False)).
        op_retry_policy=RetryPolicy(max_retries=2, delay=retry_delay_seconds, backoff=Backoff.EXPONENTIAL),
        # One process per run, every step in it. Dagster's default (multiprocess) starts a Python
        # process per step, each importing the definitions (Dagster, dlt, Polars) again: for a
        # starter tenant's small sync that start-up was most of the run's CPU (bench/bench_fleet.py).
        executor_def=in_process_executor if executor == "in_process" else multiprocess_executor,
    )

"""The Dagster code location: assets, checks, the sync job, schedules and sensors (workspace.yaml)."""

from __future__ import annotations

import gc
import os

# The imports below build ≈ 250 000 tracked objects that live as long as the process; collecting as they
# arrive would rescan them all again and again (4 full passes, ≈ 0.35 CPU s of every run process).
# The collector resumes once they are in, also when one fails. (The ingest freezes them for its own
# collection: pipelines/runner.py.)
gc.disable()
try:
    from dagster import Definitions, EnvVar
    from dagster_dlt import DagsterDltResource

    from assets.ingest import ozon_ingest, wildberries_ingest
    from assets.jobs import build_sync_job
    from assets.run_records import sync_run_failed, sync_run_succeeded
    from assets.schedules import SCHEDULES
    from assets.sensors import tenant_partitions_sensor
    from assets.sheet import SheetFiles, sheet_files, sheet_layout, sheet_publication
    from assets.stock import orders_window, stock_metrics, stock_snapshot
    from assets.supply import supply_guard, supply_plan, supply_plan_publication
    from assets.telegram_report import telegram_deliveries, telegram_report
    from assets.webhooks import outgoing_webhooks
    from resources.marketplaces import MarketplaceApis
    from resources.sentry import init_sentry
    from resources.sheets import SheetsPublisher
    from resources.telegram_reports import TelegramReports
    from resources.tenants import TenantDirectory
    from resources.warehouse import WarehouseResource
    from resources.webhook_sender import WebhookSender
    from settings import Settings, get_settings
finally:
    gc.enable()

DAGSTER_SENTRY_COMPONENT = "dagster"
DAGSTER_SENTRY_OPTIONS = {"auto_enabling_integrations": False}


def _setting(settings: Settings, name: str) -> str | EnvVar:
    """Values given in the environment stay references to it, so the Dagster UI shows the
    variable's name, never a password inside a URL."""
    variable = f"STOCK_TRACKER_{name.upper()}"
    return EnvVar(variable) if os.environ.get(variable) else str(getattr(settings, name))


def build_definitions(settings: Settings | None = None, *, retry_delay_seconds: float = 30.0) -> Definitions:
    settings = settings or get_settings()
    return Definitions(
        assets=[
            wildberries_ingest,
            ozon_ingest,
            stock_snapshot,
            orders_window,
            stock_metrics,
            supply_guard,
            sheet_layout,
            supply_plan,
            sheet_files,
            sheet_publication,
            supply_plan_publication,
            telegram_report,
        ],
        jobs=[build_sync_job(retry_delay_seconds, settings.sync_executor)],
        schedules=SCHEDULES,
        sensors=[
            tenant_partitions_sensor,
            sync_run_succeeded,
            sync_run_failed,
            outgoing_webhooks,
            telegram_deliveries,
        ],
        resources={
            "dlt": DagsterDltResource(),
            "files": SheetFiles(out_dir=str(settings.output_dir)),
            "sheets": SheetsPublisher(
                api_url=settings.sheets_api_url,
                service_account_file=settings.google_service_account_file or None,
                service_account_email=settings.google_service_account_email or None,
                app_database_url=_setting(settings, "app_database_url"),
                redis_url=settings.redis_url,
                writes_per_minute=settings.sheets_writes_per_minute,
                time_scale=settings.marketplace_time_scale,
                timeout_seconds=settings.sheets_timeout_seconds,
            ),
            "tenants": TenantDirectory(
                app_database_url=_setting(settings, "app_database_url"),
                keys_file=str(settings.home / "secrets" / "fernet.keys"),
            ),
            "warehouse": WarehouseResource(
                url=_setting(settings, "warehouse_url"), pipelines_dir=str(settings.home / "pipelines")
            ),
            "marketplaces": MarketplaceApis(
                wb_content_url=settings.wb_content_url,
                wb_analytics_url=settings.wb_analytics_url,
                wb_statistics_url=settings.wb_statistics_url,
                wb_marketplace_url=settings.wb_marketplace_url,
                wb_common_url=settings.wb_common_url,
                ozon_url=settings.ozon_url,
                time_scale=settings.marketplace_time_scale,
                read_timeout_seconds=settings.marketplace_read_timeout_seconds,
            ),
            "telegram": TelegramReports(
                app_database_url=_setting(settings, "app_database_url"),
                api_url=settings.telegram_api_url,
                time_scale=settings.marketplace_time_scale,
            ),
            "webhooks": WebhookSender(
                app_database_url=_setting(settings, "app_database_url"),
                keys_file=str(settings.home / "secrets" / "fernet.keys"),
                production=settings.environment == "production",
            ),
        },
    )


# The code server, the daemon's sensor evaluations and every run process import this module.
# Without the SDK's auto-enabling integrations: each imports its framework if installed, and the
# environment has FastAPI, Starlette, aiohttp, gql and graphene (the API, dagster-webserver), so every
# run process imported them all: ≈ 0.5 CPU s a run with a DSN set (`python -c "import definitions"`).
# Errors, the logging integration and the tags are as before.
init_sentry(DAGSTER_SENTRY_COMPONENT, **DAGSTER_SENTRY_OPTIONS)
defs = build_definitions()

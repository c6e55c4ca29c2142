"""After each sync, each linked Telegram chat gets what it asked for (DESIGN §6b): the report
with its chart (every sync, or a daily digest) and the alerts that started. api/bot/delivery.py
decides and queues (once per chat and sync, however often the run is retried); this step then
sends, and the `telegram_deliveries` sensor sends what could not go yet. Nothing here fails a sync.
"""

from collections.abc import Iterator
from typing import Any

import sentry_sdk
from dagster import (
    AssetExecutionContext,
    AssetKey,
    DefaultSensorStatus,
    MaterializeResult,
    SensorEvaluationContext,
    SkipReason,
    asset,
    sensor,
)

from api.bot.delivery import Outcome, account_alerts, after_sync, send_due
from api.bot.report import facts_for, tenant_grids, urgent_history
from api.bot.supply_report import with_supply
from assets.partitions import tenant_tier_partitions
from assets.target import resolve
from resources.telegram_reports import TelegramReports
from resources.tenants import TenantDirectory
from resources.warehouse import WarehouseResource
from warehouse.app_db import session_factory
from warehouse.stock_reads import StockReader
from warehouse.telegram_chats import active_chats
from warehouse.telegram_deliveries import due


@asset(
    partitions_def=tenant_tier_partitions,
    # After the sheet's layout too: that step writes the tenant's DuckDB file, and this one reads it.
    # After the supply plan (and so its guard) too: the report's ship-first block and guard alert.
    deps=[AssetKey("stock_metrics"), AssetKey("sheet_layout"), AssetKey("supply_plan")],
    output_required=False,
    group_name="telegram",
    kinds={"telegram", "matplotlib"},
    description="The sync report (totals, most urgent products × warehouses, sheet link, chart) and the "
    "alerts that started, to each linked Telegram chat per its report mode; once per sync run.",
)
def telegram_report(
    context: AssetExecutionContext,
    tenants: TenantDirectory,
    warehouse: WarehouseResource,
    telegram: TelegramReports,
) -> Iterator[Any]:
    target = resolve(context, tenants)
    if target is None:
        return
    tenant = target.tenant
    if not telegram.configured():
        context.log.info("No Telegram bot token set: no reports sent.")
        return
    # A retried run, or a re-execution of it, has the same root: its reports are already queued.
    run_key = context.run.root_run_id or context.run.run_id
    outcome, sent = Outcome(), Outcome()
    try:
        with session_factory(tenants.app_database_url)() as session:
            if not active_chats(session, tenant.id):
                context.log.info(f"{tenant.id} has no linked Telegram chat.")
                return
            with StockReader(warehouse.url, tenant.id) as reader:
                grids, left_out = tenant_grids(reader.metrics(), tenant)
                facts = facts_for(grids, tenant, target.snapshot_at, left_out)
                facts = with_supply(facts, session, reader, tenant, target.snapshot_at)
                outcome = after_sync(
                    session,
                    tenant.id,
                    facts,
                    run_key,
                    history=lambda threshold: urgent_history(reader, facts, threshold, target.snapshot_at),
                )
            with telegram.sender() as sender:
                sent = send_due(session, sender, tenant_id=tenant.id)
    except Exception as exc:  # a report must never fail the sync; Sentry and the log say why
        sentry_sdk.capture_exception(exc)
        context.log.error(f"Telegram report of {tenant.id} not sent ({type(exc).__name__}); retried later.")
    for note in outcome.notes:
        context.log.info(note)
    yield MaterializeResult(
        metadata={
            **outcome.as_metadata(),
            "deliveries_sent": sent.sent,
            "deliveries_to_retry": sent.deferred,
            "deliveries_failed": sent.failed,
        }
    )


@sensor(
    name="telegram_deliveries",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends Telegram reports and alerts that are due (after quiet hours, retries) and the "
    "alerts no sync raises: keys expiring or refused, syncs failing, trials ending.",
)
def telegram_deliveries(
    context: SensorEvaluationContext, tenants: TenantDirectory, telegram: TelegramReports
) -> SkipReason:
    if not telegram.configured():
        return SkipReason("No Telegram bot token set.")
    fired = 0
    with session_factory(tenants.app_database_url)() as session:
        for tenant in tenants.active():
            fired += account_alerts(session, tenant.id, tenant.name)
        if not due(session):  # the common case: no bot connection needed
            return SkipReason(f"{fired} alerts fired; nothing due to send")
        with telegram.sender() as sender:
            sent = send_due(session, sender)
    return SkipReason(
        f"{fired} alerts fired; {sent.sent} sent, {sent.deferred} to retry, {sent.failed} failed"
    )

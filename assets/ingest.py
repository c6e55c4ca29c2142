"""Raw marketplace data per tenant, loaded through dagster-dlt.

The dlt sources are built per run with the tenant's decrypted keys and loaded into the tenant's
own pipeline and dataset; the sources given to `@dlt_assets` only describe the tables (they are
built without calling any API).
"""

import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import dlt
from dagster import AssetExecutionContext, AssetKey, AssetSpec, Failure, MetadataValue
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.pipeline.exceptions import PipelineStepFailed

from assets.partitions import tenant_tier_partitions
from assets.target import SyncTarget, resolve
from pipelines.destination import loader_file_format
from pipelines.http_policy import CallLog, HttpPolicy, MarketplaceAuthError, MarketplaceError
from pipelines.ozon import ozon_source
from pipelines.ozon.helpers import OzonUrls
from pipelines.runner import collect_load_garbage, marketplace_cause
from pipelines.wildberries import wildberries_source
from resources.marketplaces import MarketplaceApis
from resources.tenants import TenantDirectory
from resources.warehouse import WarehouseResource
from warehouse.app_db import session_factory
from warehouse.telemetry import FamilyCalls, record_marketplace_calls
from warehouse.tenants import mark_checked

WB_ORDER_FEED_MAX_DAYS = 30  # WB's order feed looks back at most 31 days


class RawTableTranslator(DagsterDltTranslator):
    """Asset `raw/<table>` per dlt resource, in the marketplace's group; skippable so a run for a
    tier the tenant has left can end without materializing anything."""

    def __init__(self, marketplace: str) -> None:
        self.marketplace = marketplace

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        return spec.replace_attributes(
            key=AssetKey(["raw", data.resource.name]),
            group_name=f"{self.marketplace}_raw",
            deps=[],
            skippable=True,
            description=f"{self.marketplace.capitalize()} {data.resource.name}: raw rows as the API returns "
            "them, per tenant dataset t_<tenant>.",
        ).merge_attributes(kinds={"dlt"})


def _definition_pipeline(name: str) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"{name}_definition",
        destination="duckdb",
        dataset_name="definition",
        pipelines_dir=str(Path(tempfile.gettempdir()) / "stock-tracker-definitions"),
    )


def _fetch_days(target: SyncTarget) -> int:
    # The window is the last N *full* days in the tenant's timezone, so fetch one day more.
    return min(target.tenant.orders_window_days + 1, WB_ORDER_FEED_MAX_DAYS)


def _load(
    context: AssetExecutionContext,
    dlt_resource: DagsterDltResource,
    make_source: Callable[[], Any],
    pipeline: dlt.Pipeline,
    on_refused: Callable[[str], None] | None = None,
) -> Iterator[Any]:
    """Build the source and run dagster-dlt; a marketplace failure becomes a Failure a seller can
    read, keys never shown. Built inside: building checks the key with the marketplace (Ozon),
    and a key refused there must not be retried like a network error."""
    try:
        source = make_source()
        yield from dlt_resource.run(
            context=context,
            dlt_source=source,
            dlt_pipeline=pipeline,
            loader_file_format=loader_file_format(pipeline),
        )
    except (PipelineStepFailed, MarketplaceError) as exc:
        pipeline.abort_packages()
        cause = marketplace_cause(exc)
        reason = str(cause) if cause else f"{getattr(exc, 'step', 'load')} step failed"
        if isinstance(cause, MarketplaceAuthError) and on_refused is not None:
            on_refused(reason)
        raise Failure(
            description=f"Sync failed, previous data kept: {reason}",
            metadata={"endpoint": MetadataValue.text(cause.endpoint if cause else "")},
            # A refused key stays refused: retrying only hammers the marketplace.
            allow_retries=not isinstance(cause, MarketplaceAuthError),
        ) from None


def _credentials(tenants: TenantDirectory, target: SyncTarget, marketplace: str) -> dict[str, str]:
    found = tenants.credentials(target.tenant.id).get(marketplace)
    if not found:
        raise Failure(
            description=f"Tenant {target.tenant.id} has no {marketplace} key stored.", allow_retries=False
        )
    return found


_DEFINITION_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def _ingest(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    tenants: TenantDirectory,
    warehouse: WarehouseResource,
    marketplaces: MarketplaceApis,
    marketplace: str,
    build: Callable[[SyncTarget, dict[str, str], HttpPolicy], Any],
) -> Iterator[Any]:
    """Resolve the partition's tenant, build its source with its decrypted keys, load it; then
    record what the load asked of the marketplace, failed or not (for the operator's metrics)."""
    target = resolve(context, tenants)
    if target is None:
        return
    keys = _credentials(tenants, target, marketplace)
    context.log.info(
        f"Loading {marketplace} for {target.tenant.id} (snapshot {target.snapshot_at:%Y-%m-%d %H:%M} UTC)"
    )
    calls = CallLog()
    with collect_load_garbage():
        pipeline = warehouse.pipeline(target.tenant.id, marketplace)
        rows = 0
        try:
            refused = partial(_mark_refused, context, tenants, target.tenant.id, marketplace)
            # Built inside `_load`: WB and Ozon check the key first, and a refused key marks it invalid.
            yield from _load(
                context, dlt, lambda: build(target, keys, marketplaces.policy(calls)), pipeline, refused
            )
            rows = _rows_loaded(pipeline)
        finally:
            _record_calls(context, tenants, target.tenant.id, marketplace, calls, rows)
            del pipeline


def _mark_refused(
    context: AssetExecutionContext, tenants: TenantDirectory, tenant_id: str, marketplace: str, reason: str
) -> None:
    """The marketplace refused the stored key: say so on the key (the API's key status, the bot's
    "key refused" alert) until a new key is stored."""
    try:
        with session_factory(tenants.app_database_url)() as session:
            mark_checked(session, tenant_id, marketplace, status="invalid", message=reason[:500])
    except Exception as exc:
        context.log.warning(f"could not mark the {marketplace} key refused: {type(exc).__name__}")


def _rows_loaded(pipeline: dlt.Pipeline) -> int:
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace else None
    counts = info.row_counts if info else {}
    return sum(n for table, n in counts.items() if not table.startswith("_dlt"))


def _record_calls(
    context: AssetExecutionContext,
    tenants: TenantDirectory,
    tenant_id: str,
    marketplace: str,
    calls: CallLog,
    rows: int,
) -> None:
    tallies = [FamilyCalls(family, **counts) for family, counts in sorted(calls.by_family().items())]
    try:
        with session_factory(tenants.app_database_url)() as session:
            record_marketplace_calls(session, tenant_id, marketplace, tallies, rows, context.run_id)
    except Exception as exc:
        # Bookkeeping must never fail a seller's sync; the operator sees the gap in the metrics.
        context.log.warning(f"could not record {marketplace} call counts: {type(exc).__name__}")


@dlt_assets(
    dlt_source=wildberries_source("", "definition", _DEFINITION_TIME, check_token=False),
    dlt_pipeline=_definition_pipeline("wildberries"),
    name="wildberries_ingest",
    dagster_dlt_translator=RawTableTranslator("wildberries"),
    partitions_def=tenant_tier_partitions,
    pool="wildberries",
)
def wildberries_ingest(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    tenants: TenantDirectory,
    warehouse: WarehouseResource,
    marketplaces: MarketplaceApis,
) -> Iterator[Any]:
    yield from _ingest(
        context,
        dlt,
        tenants,
        warehouse,
        marketplaces,
        "wildberries",
        lambda target, keys, policy: wildberries_source(
            keys["token"],
            target.tenant.id,
            target.snapshot_at,
            marketplaces.wb_urls(),
            _fetch_days(target),
            policy,
        ),
    )


@dlt_assets(
    dlt_source=ozon_source("0", "", "definition", _DEFINITION_TIME, check_token=False),
    dlt_pipeline=_definition_pipeline("ozon"),
    name="ozon_ingest",
    dagster_dlt_translator=RawTableTranslator("ozon"),
    partitions_def=tenant_tier_partitions,
    pool="ozon",
)
def ozon_ingest(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    tenants: TenantDirectory,
    warehouse: WarehouseResource,
    marketplaces: MarketplaceApis,
) -> Iterator[Any]:
    yield from _ingest(
        context,
        dlt,
        tenants,
        warehouse,
        marketplaces,
        "ozon",
        lambda target, keys, policy: ozon_source(
            keys["client_id"],
            keys["api_key"],
            target.tenant.id,
            target.snapshot_at,
            OzonUrls(marketplaces.ozon_url),
            target.tenant.orders_window_days + 1,
            policy,
        ),
    )


RAW_KEYS = {
    "wildberries": sorted(wildberries_ingest.keys, key=lambda k: k.to_user_string()),
    "ozon": sorted(ozon_ingest.keys, key=lambda k: k.to_user_string()),
}

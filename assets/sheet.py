"""The sheet (DESIGN §6): one grid per marketplace from the stock model, checked, then written to
the tenant's files (XLSX + CSV) and published to the tenant's Google Spreadsheet."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    ConfigurableResource,
    Failure,
    MaterializeResult,
    Output,
    asset,
)

from assets.partitions import tenant_tier_partitions
from assets.target import resolve
from resources.sheets import PublishError, SheetsPublisher
from resources.tenants import TenantDirectory
from resources.warehouse import WarehouseResource
from warehouse.app_db import session_factory
from warehouse.plan_products import grids_for_plan
from warehouse.plans import PLANS
from warehouse.sheet_files import tenant_folder, write_csv, write_xlsx
from warehouse.sheet_layout import SheetGrid
from warehouse.webhooks import enqueue_low_stock

LAYOUT = AssetKey("sheet_layout")
MARKETPLACE_ORDER = ("wildberries", "ozon")


class SheetFiles(ConfigurableResource):
    """Where each tenant's `stock.xlsx` and `<marketplace>.csv` go: `<out_dir>/<seller name>/`."""

    out_dir: str

    def folder(self, seller_name: str) -> Path:
        return tenant_folder(Path(self.out_dir), seller_name)


def grid_problems(grid: SheetGrid) -> list[str]:
    """Rows whose totals differ from the sum of their warehouse groups, and a wrong header width."""
    problems = []
    width = 9 + 3 * len(grid.groups)
    if len(grid.header) != width or len(grid.top_header) != width:
        problems.append(f"{grid.title}: header is {len(grid.header)} wide, expected {width}")
    for row in grid.rows:
        stock = sum(row[9 + 3 * g] or 0 for g in range(len(grid.groups)))
        orders = sum(row[10 + 3 * g] or 0 for g in range(len(grid.groups)))
        if len(row) != width or row[6] != orders or row[7] != stock:
            problems.append(
                f"{grid.title}: product {row[3]} totals {row[6]}/{row[7]} ≠ groups {orders}/{stock}"
            )
    return problems


@asset(
    key=LAYOUT,
    partitions_def=tenant_tier_partitions,
    deps=[AssetKey("stock_metrics")],
    output_required=False,
    group_name="sheet",
    kinds={"polars"},
    check_specs=[
        AssetCheckSpec(
            "totals_add_up",
            asset=LAYOUT,
            blocking=True,
            description="Every row's totals equal the sums of its warehouse groups; header is 9 + 3·W.",
        ),
    ],
    description="The horizontal sheet per marketplace: products × warehouse groups under a two-row header.",
)
def sheet_layout(
    context: AssetExecutionContext, tenants: TenantDirectory, warehouse: WarehouseResource
) -> Iterator[Any]:
    target = resolve(context, tenants)
    if target is None:
        return
    tenant = target.tenant
    with warehouse.mart(tenant.id) as mart:
        metrics = mart.current_stock_frame()
    # The sync loaded everything; the sheet and files cover the plan's first N products and say
    # below them how many were left out and which plan shows them.
    grids, metrics, left_out = grids_for_plan(
        metrics,
        tier=tenant.tier,
        marketplaces=[m for m in MARKETPLACE_ORDER if m in tenant.marketplaces],
        locale=tenant.locale,
        window_days=tenant.orders_window_days,
        low_stock_days=tenant.low_stock_days,
    )
    _announce_low_stock(context, tenants, tenant.id, tenant.low_stock_days, metrics)
    problems = [p for grid in grids for p in grid_problems(grid)]
    metadata: dict[str, Any] = {
        g.title: f"{len(g.rows)} products × {len(g.groups)} warehouses" for g in grids
    }
    if left_out:
        limit = PLANS[tenant.tier].products
        metadata["left_out_by_plan"] = f"{left_out} products beyond the {tenant.tier} plan's {limit} left out"
    yield Output(grids, metadata=metadata)
    yield AssetCheckResult(
        check_name="totals_add_up",
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        metadata={"problems": "\n".join(problems[:20]) or "none"},
    )


@asset(
    partitions_def=tenant_tier_partitions,
    output_required=False,
    group_name="sheet",
    kinds={"xlsx", "csv"},
    description="The same grid as files: `<seller>/stock.xlsx` (a worksheet per marketplace, then "
    "`План поставок`) and `<seller>/<marketplace>.csv`.",
)
def sheet_files(
    context: AssetExecutionContext,
    sheet_layout: list[SheetGrid],
    supply_plan: SheetGrid,
    tenants: TenantDirectory,
    files: SheetFiles,
) -> Iterator[Any]:
    target = resolve(context, tenants)
    if target is None:
        return
    grids = [g for g in sheet_layout if g.rows]
    if not grids:
        context.log.warning(f"{target.tenant.id}: no products in the stock model yet, no files written.")
        return
    folder = files.folder(target.tenant.name)
    folder.mkdir(parents=True, exist_ok=True)
    # The supply plan is one more worksheet of the workbook (it has no CSV of its own).
    write_xlsx(grids + ([supply_plan] if supply_plan.rows else []), folder / "stock.xlsx")
    for grid in grids:
        write_csv(grid, folder / f"{grid.marketplace}.csv")
    yield MaterializeResult(metadata={"folder": str(folder), "worksheets": ", ".join(g.title for g in grids)})


@asset(
    partitions_def=tenant_tier_partitions,
    output_required=False,
    group_name="sheet",
    kinds={"googlesheets"},
    description="The grid published to the tenant's Google Spreadsheet: one worksheet per marketplace, "
    "one metadata read and one batchUpdate each, nothing when unchanged.",
)
def sheet_publication(
    context: AssetExecutionContext,
    sheet_layout: list[SheetGrid],
    tenants: TenantDirectory,
    sheets: SheetsPublisher,
) -> Iterator[Any]:
    target = resolve(context, tenants)
    if target is None:
        return
    spreadsheet = target.tenant.spreadsheet_id
    if not spreadsheet:
        context.log.info(f"{target.tenant.id} has no Google Spreadsheet set: publishing skipped.")
        return
    grids = [g for g in sheet_layout if g.rows]
    if not grids:
        raise Failure(
            description="Nothing to publish: the stock model has no products yet; the sheet is kept.",
            allow_retries=False,
        )
    try:
        result = sheets.publish(spreadsheet, grids, last_digests(context))
    except PublishError as exc:
        # The publisher already retried what can be retried (429, 5xx); a run-level retry would
        # only spend the shared write budget again.
        raise Failure(
            description=f"Publishing failed, the previous sheet is kept: {exc}", allow_retries=False
        ) from None
    yield MaterializeResult(
        metadata={
            "spreadsheet_id": spreadsheet,
            "written": ", ".join(t for t, w in result.worksheets.items() if w.written)
            or "nothing (unchanged)",
            "sheets_reads": result.reads,
            "sheets_writes": result.writes,
            **{f"digest:{title}": digest for title, digest in result.digests().items()},
        }
    )


def last_digests(context: AssetExecutionContext) -> dict[str, str]:
    """What the previous publish of this partition wrote (kept in its materialization metadata)."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[context.partition_key]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return {}
    metadata = records[0].asset_materialization.metadata
    return {k.removeprefix("digest:"): str(v.value) for k, v in metadata.items() if k.startswith("digest:")}


def _announce_low_stock(
    context: AssetExecutionContext,
    tenants: TenantDirectory,
    tenant_id: str,
    threshold: int,
    metrics: pl.DataFrame,
) -> None:
    """Queue `stock.low` for the seller's webhooks (sent by the outgoing_webhooks sensor)."""
    if metrics.is_empty() or "days_of_cover" not in metrics.columns:
        return
    low = metrics.filter(
        pl.col("days_of_cover").is_not_null() & (pl.col("days_of_cover") < threshold)
    ).select("marketplace", "product_id", "article", "warehouse_name", "stock", "days_of_cover")
    with session_factory(tenants.app_database_url)() as session:
        enqueue_low_stock(session, tenant_id, context.run.run_id, low.to_dicts(), threshold)

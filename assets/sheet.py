"""The sheet (DESIGN §6): one grid per marketplace from the stock model, checked, then written to
the tenant's files (XLSX + CSV) and published to the tenant's Google Spreadsheet."""

import re
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
    ConfigurableResource,
    MaterializeResult,
    Output,
    asset,
)

from assets.partitions import tenant_tier_partitions
from assets.target import resolve
from resources.tenants import TenantDirectory
from resources.warehouse import WarehouseResource
from warehouse.sheet_files import write_csv, write_xlsx
from warehouse.sheet_layout import SheetGrid, build_grid

LAYOUT = AssetKey("sheet_layout")
MARKETPLACE_ORDER = ("wildberries", "ozon")


class SheetFiles(ConfigurableResource):
    """Where each tenant's `stock.xlsx` and `<marketplace>.csv` go: `<out_dir>/<seller name>/`."""

    out_dir: str

    def folder(self, seller_name: str) -> Path:
        # A seller's name becomes a folder name: keep letters (Cyrillic too), digits, spaces, - _ .
        safe = re.sub(r"[^\w\- .]+", "_", seller_name).strip(" .") or "seller"
        return Path(self.out_dir) / safe


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
        metrics = pl.DataFrame(mart.current_stock(), infer_schema_length=None)
    grids = [
        build_grid(
            metrics,
            marketplace=m,
            locale=tenant.locale,
            window_days=tenant.orders_window_days,
            low_stock_days=tenant.low_stock_days,
        )
        for m in MARKETPLACE_ORDER
        if m in tenant.marketplaces
    ]
    problems = [p for grid in grids for p in grid_problems(grid)]
    yield Output(
        grids, metadata={g.title: f"{len(g.rows)} products × {len(g.groups)} warehouses" for g in grids}
    )
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
    description="The same grid as files: `<seller>/stock.xlsx` (a worksheet per marketplace) and "
    "`<seller>/<marketplace>.csv`.",
)
def sheet_files(
    context: AssetExecutionContext, sheet_layout: list[SheetGrid], tenants: TenantDirectory, files: SheetFiles
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
    write_xlsx(grids, folder / "stock.xlsx")
    for grid in grids:
        write_csv(grid, folder / f"{grid.marketplace}.csv")
    yield MaterializeResult(metadata={"folder": str(folder), "worksheets": ", ".join(g.title for g in grids)})

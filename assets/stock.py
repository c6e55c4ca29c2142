"""The stock model per tenant (DESIGN §4): snapshot history, orders window, per-warehouse metrics.

Blocking checks guard the snapshot: nothing downstream (sheet, reports) sees negative stock,
duplicate keys, or an empty snapshot when the marketplace reported stock.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
)

from assets.ingest import RAW_KEYS
from assets.target import SyncTarget, tenant_model_asset
from resources.tenants import TenantDirectory
from resources.warehouse import WarehouseResource
from warehouse.mart import order_window

SNAPSHOT = AssetKey("stock_snapshot")
# The raw tables a snapshot reads: stock, and the products it names (Ozon: with their attributes
# and category names).
SNAPSHOT_SOURCES = ("_stock", "_products", "_product_attributes", "_category_tree")
CHECKS = [
    AssetCheckSpec(
        "no_negative_stock",
        asset=SNAPSHOT,
        blocking=True,
        description="No product × warehouse has negative stock or transit.",
    ),
    AssetCheckSpec(
        "unique_keys",
        asset=SNAPSHOT,
        blocking=True,
        description="One row per marketplace × size × warehouse in the snapshot.",
    ),
    AssetCheckSpec(
        "not_empty_when_reported",
        asset=SNAPSHOT,
        blocking=True,
        description="The snapshot has rows whenever the marketplace reported stock.",
    ),
]


def _connected(tenant_marketplaces: tuple[str, ...]) -> list[str]:
    return [m for m in ("wildberries", "ozon") if m in tenant_marketplaces]


@tenant_model_asset(
    key=SNAPSHOT,
    deps=[k for keys in RAW_KEYS.values() for k in keys if k.path[-1].endswith(SNAPSHOT_SOURCES)],
    check_specs=CHECKS,
    group_name="stock_model",
    kinds={"sql"},
    description="Stock per product × size × warehouse at each sync, appended: the stock history.",
)
def stock_snapshot(
    context: AssetExecutionContext, target: SyncTarget, tenants: TenantDirectory, warehouse: WarehouseResource
) -> Iterator[Any]:
    marketplaces = _connected(target.tenant.marketplaces)
    with warehouse.mart(target.tenant.id) as mart:
        stamp = mart.append_snapshot(marketplaces)
        counts = mart.snapshot_counts()
        reported = {m: mart.raw_stock_rows(m) for m in marketplaces}
    context.log.info(
        f"{target.tenant.id}: snapshot of {counts.products} products, {counts.warehouses} warehouses, "
        f"{counts.units} units"
    )
    yield MaterializeResult(
        metadata={
            "snapshot_at": (stamp or datetime.now(UTC)).isoformat(),
            "rows": counts.snapshot_rows,
            "products": counts.products,
            "warehouses": counts.warehouses,
            "units": counts.units,
        },
    )
    yield AssetCheckResult(
        check_name="no_negative_stock",
        passed=counts.negative_rows == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"negative_rows": counts.negative_rows},
    )
    yield AssetCheckResult(
        check_name="unique_keys",
        passed=counts.duplicate_keys == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"duplicate_keys": counts.duplicate_keys},
    )
    empty = sum(reported.values()) > 0 and counts.snapshot_rows == 0
    yield AssetCheckResult(
        check_name="not_empty_when_reported",
        passed=not empty,
        severity=AssetCheckSeverity.ERROR,
        metadata={"raw_rows": sum(reported.values()), "snapshot_rows": counts.snapshot_rows},
    )


@tenant_model_asset(
    deps=[k for keys in RAW_KEYS.values() for k in keys if k.path[-1].endswith("_orders")],
    group_name="stock_model",
    kinds={"sql"},
    description="Order lines of the tenant's window (last N full days, tenant timezone), one per order id, "
    "cancellations excluded.",
)
def orders_window(
    context: AssetExecutionContext, target: SyncTarget, tenants: TenantDirectory, warehouse: WarehouseResource
) -> Iterator[Any]:
    start, end = order_window(target.tenant.orders_window_days, target.tenant.timezone, target.snapshot_at)
    with warehouse.mart(target.tenant.id) as mart:
        lines = mart.rebuild_orders_window(_connected(target.tenant.marketplaces), start, end)
    yield MaterializeResult(
        metadata={"order_lines": lines, "window_start": start.isoformat(), "window_end": end.isoformat()}
    )


@tenant_model_asset(
    deps=[SNAPSHOT, AssetKey("orders_window")],
    group_name="stock_model",
    kinds={"sql"},
    description="Per product × warehouse: stock, transit, orders in the window, days of cover.",
)
def stock_metrics(
    context: AssetExecutionContext, target: SyncTarget, tenants: TenantDirectory, warehouse: WarehouseResource
) -> Iterator[Any]:
    with warehouse.mart(target.tenant.id) as mart:
        rows = mart.rebuild_metrics(target.tenant.orders_window_days)
    yield MaterializeResult(metadata={"rows": rows, "window_days": target.tenant.orders_window_days})

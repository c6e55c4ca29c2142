"""Supply planning per tenant: the guard over the marketplaces' own numbers, the plan, and its
worksheet `План поставок` in the seller's Google Spreadsheet (warehouse/supply_plan.py,
warehouse/supply_guard.py). All in the tenant × tier partition, after the stock model.
"""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    Output,
)

from assets.ingest import RAW_KEYS
from assets.sheet import last_digests
from assets.target import SyncTarget, resolve, tenant_asset, tenant_model_asset
from resources.sheets import PublishError, SheetsPublisher
from resources.tenants import TenantDirectory
from resources.warehouse import WarehouseResource
from warehouse import counters
from warehouse.app_db import session_factory
from warehouse.plan_products import first_products
from warehouse.plans import PLANS
from warehouse.supply_guard import check_identities, record_findings
from warehouse.supply_mart import read_supply_inputs, rebuild_cluster_model
from warehouse.supply_plan import build_inputs, compute_plan, tenant_today
from warehouse.supply_settings import load_settings
from warehouse.supply_sheet import PlanGrid, build_plan_grid

GUARD = AssetKey("supply_guard")
# The raw tables whose identities the guard checks.
_GUARDED = ("_stock", "_remains", "_stock_by_scheme")


@tenant_model_asset(
    key=GUARD,
    deps=[AssetKey("stock_snapshot")]
    + [k for keys in RAW_KEYS.values() for k in keys if k.path[-1].endswith(_GUARDED)],
    check_specs=[
        AssetCheckSpec(
            "identities_hold",
            asset=GUARD,
            blocking=False,  # the sync still publishes; affected plan rows are marked in doubt
            description="WB: warehouses + aggregates = «Всего находится на складах», stock report = "
            "warehouse_remains per product; Ozon: clusters sum to the /v4 FBO totals.",
        )
    ],
    group_name="stock_model",
    kinds={"sql"},
    description="Checks the marketplaces' own identities each sync; products whose numbers disagree are "
    "marked «data in doubt» in the supply plan.",
)
def supply_guard(
    context: AssetExecutionContext, target: SyncTarget, tenants: TenantDirectory, warehouse: WarehouseResource
) -> Iterator[Any]:
    with warehouse.mart(target.tenant.id) as mart:
        findings, checked = check_identities(mart, list(target.tenant.marketplaces))
        record_findings(mart, findings, target.snapshot_at)
    broken = sorted(set(zip(findings["marketplace"], findings["identity"], strict=True)))
    if broken:
        with session_factory(tenants.app_database_url)() as session:
            counters.add(
                session,
                {counters.key("supply_guard_breaks", marketplace=m, identity=i): 1.0 for m, i in broken},
            )
            session.commit()
        context.log.warning(
            f"{target.tenant.id}: marketplace numbers disagree ({', '.join(i for _, i in broken)}) for "
            f"{findings.height} product(s); their plan rows are marked in doubt."
        )
    yield MaterializeResult(
        metadata={"checked": ", ".join(checked) or "nothing loaded", "products_in_doubt": findings.height}
    )
    sample = "\n".join(
        f"{r['identity']}: {r['marketplace']} {r['product_id']} "
        f"expected {r['expected']}, reported {r['reported']}"
        for r in findings.head(20).iter_rows(named=True)
    )
    yield AssetCheckResult(
        check_name="identities_hold",
        passed=findings.is_empty(),
        severity=AssetCheckSeverity.WARN,
        metadata={
            "broken": ", ".join(i for _, i in broken) or "none",
            "products_in_doubt": findings.height,
            "sample": sample or "none",
        },
    )


@tenant_model_asset(
    deps=[AssetKey("stock_metrics"), GUARD],
    group_name="sheet",
    kinds={"polars"},
    description="What to ship where and by when, per product × destination (Ozon cluster, WB national "
    "line or warehouse, FBS warehouse), as the `План поставок` worksheet.",
)
def supply_plan(
    context: AssetExecutionContext, target: SyncTarget, tenants: TenantDirectory, warehouse: WarehouseResource
) -> Iterator[Any]:
    tenant = target.tenant
    with warehouse.mart(tenant.id) as mart:
        rebuild_cluster_model(mart)
        metrics, clusters, doubtful, window_days = read_supply_inputs(
            *mart.supply_readers(), frames=mart.supply_frames()
        )
    # The sync loaded everything; like the stock sheet, the plan covers the plan tier's first N products.
    metrics, left_out = first_products(metrics, PLANS[target.tier].products)
    with session_factory(tenants.app_database_url)() as session:
        settings = load_settings(session, tenant.id)
    today = tenant_today(tenant.timezone, target.snapshot_at)
    plan = compute_plan(build_inputs(metrics, clusters, window_days, doubtful), settings, today)
    grid = build_plan_grid(
        plan, locale=tenant.locale, low_stock_days=tenant.low_stock_days, window_days=window_days
    )
    counts = plan["urgency"].value_counts()
    by_urgency = dict(zip(counts["urgency"], counts["count"], strict=True))
    yield Output(
        grid,
        metadata={
            "rows": plan.height,
            "units_to_ship": int(plan["units_to_ship"].sum() or 0),
            **{f"urgency:{k}": int(by_urgency.get(k, 0)) for k in ("overdue", "urgent", "planned", "ok")},
            "in_doubt_rows": int(plan["in_doubt"].sum() or 0),
            "left_out_by_plan": left_out,
        },
    )


@tenant_asset(
    group_name="sheet",
    kinds={"googlesheets"},
    description="The supply plan published to its own worksheet `План поставок`: one metadata read and "
    "one batchUpdate, nothing when unchanged, no other tab touched.",
)
def supply_plan_publication(
    context: AssetExecutionContext, supply_plan: PlanGrid, tenants: TenantDirectory, sheets: SheetsPublisher
) -> Iterator[Any]:
    target = resolve(context, tenants)
    if target is None:
        return
    spreadsheet = target.tenant.spreadsheet_id
    if not spreadsheet:
        context.log.info(f"{target.tenant.id} has no Google Spreadsheet set: publishing skipped.")
        return
    if not supply_plan.rows:
        context.log.info(f"{target.tenant.id}: no plan rows yet; the worksheet is kept as it is.")
        return
    try:
        result = sheets.publish(spreadsheet, [supply_plan], last_digests(context))
    except PublishError as exc:
        raise Failure(
            description=f"Publishing the supply plan failed, the previous one is kept: {exc}",
            allow_retries=False,
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

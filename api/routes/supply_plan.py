"""The supply plan: what to ship where and by when (warehouse/supply_plan.py), and its settings."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, EditorUser, SettingsDep, TenantSessionDep
from api.errors import responses
from api.models import NO_CONTROL, Marketplace
from api.routes import API_PREFIX
from api.routes.products import stock_of
from warehouse.plans import PLANS
from warehouse.supply_guard import guard_findings
from warehouse.supply_plan import (
    PLAN_COLUMNS,
    URGENCY_ORDER,
    filter_plan,
    plan_rows,
    tenant_plan,
    tenant_today,
)
from warehouse.supply_settings import SupplySettings, load_settings, save_settings

router = APIRouter(prefix=f"{API_PREFIX}/supply-plan", tags=["supply plan"])
Urgency = Literal[URGENCY_ORDER]  # type: ignore[valid-type]
CSV = "text/csv"


class SupplyPlanRow(BaseModel):
    marketplace: Marketplace
    product_id: int
    article: str | None
    title: str | None
    destination: str
    daily_rate: float
    rate_source: str  # `ozon_ads_28d` (Ozon's 28-day ads_cluster) or `orders_<N>d` (the orders window)
    available: int
    in_transit: int = Field(
        description="On its way to the destination, never to buyers. Ozon: units in supplies on their way "
        "(`transit_stock_count`); WB: returns on their way to its warehouses — WB reports no incoming "
        "supplies through its API, so a WB supply on its way is not counted."
    )
    requested: int
    days_of_cover: float | None
    runs_out_on: date | None
    lead_time_days: int
    last_day_to_ship: date | None
    units_to_ship: int
    box_multiple: int
    urgency: Urgency
    in_doubt: bool  # the marketplace's own numbers disagreed for this product in the last sync


class GuardFinding(BaseModel):
    marketplace: Marketplace
    product_id: int
    identity: str
    expected: int
    reported: int


class SupplyPlanOut(BaseModel):
    as_of: date
    target_cover_days: int
    total: int
    items: list[SupplyPlanRow]
    data_in_doubt: list[GuardFinding]


@router.get(
    "",
    response_model=SupplyPlanOut,
    responses={
        200: {"content": {"application/json": {}, CSV: {}}, "description": "The plan, JSON or CSV."},
        **responses(401, 403, 422, 429, 503),
    },
)
def read_plan(
    request: Request,
    principal: CurrentUser,
    settings: SettingsDep,
    session: TenantSessionDep,
    marketplace: Marketplace | None = None,
    destination: Annotated[
        str | None,
        Query(max_length=200, pattern=rf"^[^{NO_CONTROL}]+$", description="An Ozon cluster, `Склад WB`, …"),
    ] = None,
    urgency: Urgency | None = None,
    file_format: Annotated[Literal["json", "csv"] | None, Query(alias="format")] = None,
) -> Any:
    """Per product × destination: daily rate, stock, in transit, days of cover, the date it runs
    out, the last day to ship and the units to ship, most urgent first. `?format=csv` (or
    `Accept: text/csv`) gives the same rows as CSV."""
    plan_settings = load_settings(session, principal.tenant_id)
    today = tenant_today(principal.tenant.timezone)
    with stock_of(settings, principal.tenant_id) as reader:
        plan = tenant_plan(reader, plan_settings, today, PLANS[principal.tenant.tier].products)
        findings = guard_findings(reader)
    plan = filter_plan(plan, marketplace, destination, urgency)
    wants_csv = file_format == "csv" or (
        file_format is None and CSV in request.headers.get("accept", "").split(",")[0]
    )
    if wants_csv:
        return Response(
            plan.select(PLAN_COLUMNS).write_csv(),
            media_type=f"{CSV}; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="supply-plan.csv"'},
        )
    return SupplyPlanOut(
        as_of=today,
        target_cover_days=plan_settings.target_cover_days,
        total=plan.height,
        items=[SupplyPlanRow(**row) for row in plan_rows(plan)],
        data_in_doubt=[GuardFinding(**{k: f[k] for k in GuardFinding.model_fields}) for f in findings],
    )


@router.get("/settings", responses=responses(401, 403, 429))
def read_settings(principal: CurrentUser, session: TenantSessionDep) -> SupplySettings:
    """Target cover, lead times (defaults: WB 7, Ozon 10, FBS 2 days), box multiples, exclusions."""
    return load_settings(session, principal.tenant_id)


@router.put("/settings", responses=responses(400, 401, 403, 422, 429))
def write_settings(
    body: Annotated[SupplySettings, Body()], principal: EditorUser, session: TenantSessionDep
) -> SupplySettings:
    """Replace the settings as a whole (owner or admin); the plan uses them on the next read."""
    save_settings(session, principal.tenant_id, body)
    return load_settings(session, principal.tenant_id)

"""Stock reads: products with totals, one product's warehouses and history, the sheet as a file."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, SettingsDep
from api.errors import ApiError, request_language, responses
from api.models import (
    NO_CONTROL,
    HistoryPoint,
    Locale,
    Marketplace,
    ProductDetail,
    ProductOut,
    ProductPage,
    WarehouseStockOut,
)
from api.principal_cache import CachedReader
from api.routes import API_PREFIX
from settings import Settings
from warehouse.plans import PLANS, first_allowing, left_out_note
from warehouse.stock_reads import SORTS, ProductFilter, ProductTotals, StockReader, WarehouseBusy

router = APIRouter(prefix=API_PREFIX, tags=["stock"])

Sort = Literal[tuple(s for name in SORTS for s in (name, f"-{name}"))]  # type: ignore[valid-type]
MAX_COUNT = 2**53  # any stock a JSON number carries exactly
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@contextmanager
def stock_of(settings: Settings, tenant_id: str) -> Iterator[StockReader]:
    try:
        with StockReader(settings.warehouse_url, tenant_id) as reader:
            yield reader
    except WarehouseBusy:
        raise ApiError(503, "warehouse_busy", headers={"Retry-After": "2"}) from None


def _totals(settings: Settings, tenant_id: str) -> ProductTotals:
    with stock_of(settings, tenant_id) as reader:
        return reader.product_totals()


class ProductQuery(BaseModel):
    """The list's query string, validated in one step (per-parameter validation was a tenth of
    the list's time under load)."""

    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(50, ge=1, le=200)
    search: str | None = Field(
        None, max_length=100, pattern=rf"^[^{NO_CONTROL}]*$", description="Article, name or brand."
    )
    marketplace: Marketplace | None = None
    min_stock: int | None = Field(None, ge=0, le=MAX_COUNT)
    max_stock: int | None = Field(None, ge=0, le=MAX_COUNT)
    low_stock_only: bool = Field(False, description="Only days of cover below the threshold.")
    sort: Sort = Field("article", description="A field; a leading `-` sorts descending.")  # type: ignore[valid-type]


@router.get("/products/", response_model=ProductPage, responses=responses(401, 403, 422, 429, 503))
async def list_products(
    request: Request, principal: CachedReader, query: Annotated[ProductQuery, Query()]
) -> Response:
    """The current stock per product (totals over warehouses), a page at a time."""
    # The hot read runs on the event loop: the sign-in check is cached (api/principal_cache.py)
    # and the totals are this process's Polars frame, sorted and cut to the plan once per model
    # version; only loading them after a sync (a database read) goes to a pool thread. Each
    # product's JSON is made once per model version and threshold and reused by every page.
    settings: Settings = request.app.state.settings
    threshold = principal.tenant.low_stock_days
    where = ProductFilter(
        query.search, query.marketplace, query.min_stock, query.max_stock, query.low_stock_only, threshold
    )
    plan = PLANS[principal.tenant.tier]
    totals = StockReader(settings.warehouse_url, principal.tenant_id).cached_totals()
    if totals is None:
        totals = await run_in_threadpool(_totals, settings, principal.tenant_id)
    page, page_size = query.page, query.page_size
    ids, total, left_out = totals.page_rows(
        where, sort=query.sort, limit=page_size, offset=(page - 1) * page_size, plan_products=plan.products
    )
    items: dict[int, bytes] = totals.memo.setdefault(("items", threshold), {})
    for i in ids:
        if i not in items:
            items[i] = _product(totals.rows[i], threshold).model_dump_json().encode()
    note = left_out_note(request_language(request), plan.tier, left_out) if left_out else None
    # ProductPage's fields in its order, the items as ProductOut serialised them.
    head = orjson.dumps(
        {"total": total, "page": page, "page_size": page_size, "pages": math.ceil(total / page_size)}
    )
    tail = orjson.dumps({"left_out_by_plan": left_out, "plan_note": note})
    body = b"".join((head[:-1], b',"items":[', b",".join(items[i] for i in ids), b"],", tail[1:]))
    return Response(body, media_type="application/json")


@router.get("/products/{product_id}", responses=responses(401, 403, 404, 409, 422, 429, 503))
def read_product(
    product_id: Annotated[int, PathParam(ge=1, le=2**63 - 1, description="WB nmID or Ozon SKU.")],
    principal: CurrentUser,
    settings: SettingsDep,
    marketplace: Marketplace | None = None,
    history_days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> ProductDetail:
    """One product: totals, stock per warehouse, and its stock over time."""
    since = datetime.now(UTC) - timedelta(days=history_days)
    with stock_of(settings, principal.tenant_id) as reader:
        found = reader.product(product_id, marketplace)
        if not found:
            raise ApiError(404, "product_not_found")
        if len(found) > 1:
            raise ApiError(409, "ambiguous_product")
        row = found[0]
        plan = PLANS[principal.tenant.tier]
        if reader.left_out_by_plan(product_id, row["marketplace"], plan.products):
            # The plan covers its first N products everywhere (list, sheet, files): say which plan
            # shows this one rather than pretend it does not exist.
            total = reader.product_totals().frame.height
            covering = first_allowing(lambda p: p.products >= total)
            raise ApiError(
                403,
                "product_left_out",
                limit=plan.products,
                current=plan.name,
                plan=covering.name if covering else "-",
            )
        warehouses = reader.warehouses(product_id, row["marketplace"])
        history = reader.history(product_id, row["marketplace"], since)
    return ProductDetail(
        **_product(row, principal.tenant.low_stock_days).model_dump(),
        warehouse_stock=[WarehouseStockOut(**w) for w in warehouses],
        history=[HistoryPoint(at=at, stock=units) for at, units in history],
    )


@router.get(
    "/stock/export",
    response_class=Response,
    responses={
        200: {
            "description": "The sheet: XLSX (a worksheet per marketplace) or CSV (one marketplace).",
            "content": {XLSX: {}, "text/csv": {}},
        },
        **responses(401, 403, 404, 422, 429, 503),
    },
)
def export_stock(
    principal: CurrentUser,
    settings: SettingsDep,
    file_format: Annotated[Literal["xlsx", "csv"], Query(alias="format")] = "xlsx",
    marketplace: Marketplace | None = None,
    locale: Locale | None = None,
) -> Response:
    """The same grid as the Google Sheet, as a file."""
    import polars as pl

    from warehouse.plan_products import grids_for_plan
    from warehouse.sheet_files import write_csv, write_xlsx

    tenant = principal.tenant
    with stock_of(settings, tenant.id) as reader:
        metrics = reader.metrics()
    present = sorted({m["marketplace"] for m in metrics}, key=["wildberries", "ozon"].index)
    chosen = [marketplace] if marketplace else present
    if not metrics or not set(chosen) <= set(present):
        raise ApiError(404, "no_stock_data")
    if file_format == "csv" and len(chosen) > 1:
        raise ApiError(422, "marketplace_required", choices=", ".join(present))
    frame = pl.DataFrame(metrics, infer_schema_length=None)
    window = max((int(m["window_days"]) for m in metrics if m.get("window_days")), default=0)
    # The plan's first N products, with the note below them, exactly as the published sheet.
    grids, _, _ = grids_for_plan(
        frame,
        tier=tenant.tier,
        marketplaces=chosen,
        locale=locale or tenant.locale,
        window_days=window or tenant.orders_window_days,
        low_stock_days=tenant.low_stock_days,
    )
    with tempfile.TemporaryDirectory() as scratch:
        if file_format == "xlsx":
            path, media_type = Path(scratch) / "stock.xlsx", XLSX
            write_xlsx(grids, path)
        else:
            path, media_type = Path(scratch) / f"{chosen[0]}.csv", "text/csv; charset=utf-8"
            write_csv(grids[0], path)
        content = path.read_bytes()
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )


def _product(row: dict[str, Any], low_stock_days: int) -> ProductOut:
    cover = float(row["days_of_cover"]) if row["days_of_cover"] is not None else None
    return ProductOut(
        marketplace=row["marketplace"],
        product_id=int(row["product_id"]),
        article=row["article"],
        brand=row["brand"],
        subject=row["subject"],
        title=row["title"],
        stock=int(row["stock"]),
        orders=int(row["orders"]),
        in_way_to_client=int(row["in_way_to_client"]),
        in_way_from_client=int(row["in_way_from_client"]),
        days_of_cover=cover,
        low_stock=cover is not None and cover < low_stock_days,
        warehouses=int(row["warehouses"]),
        window_days=int(row["window_days"] or 0),
        snapshot_at=row["snapshot_at"],
    )

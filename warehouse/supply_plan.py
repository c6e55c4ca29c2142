"""The supply plan: how many units to ship where, and by when, before a product runs out.

One row per product × destination:
* Ozon: each cluster (`/v1/cluster/list`, the warehouses' `cluster_id`), and each FBS warehouse;
* WB: one national line `Склад WB` while WB reports its warehouses in aggregate (DESIGN §4, the
  same pooling as the sheet: warehouse/warehouse_groups.py), one line per WB warehouse in the
  detailed mode, and each FBS warehouse (`<name> (FBS)`).

Per row (all vectorised in Polars, `compute_plan`):
* `daily_rate` — Ozon's 28-day `ads_cluster` where `/v1/analytics/stocks` gave it
  (`rate_source` = `ozon_ads_28d`), else orders in the tenant's window ÷ its days
  (`rate_source` = `orders_<N>d`);
* `available`; `in_transit` — stock on its way *to* the destination, never orders on their way to
  buyers: Ozon `transit_stock_count` (units in supplies on their way; Ozon reports nothing to buyers
  per warehouse), WB the returns on their way to its warehouses (stocks-report `inWayFromClient`;
  warehouse_remains' «В пути возвраты на склад WB», per size, only on the national line). WB reports
  no incoming supplies through the methods used (its supplies-api planning methods were switched
  off), so a WB supply on its way is not in the plan; `requested` (Ozon `requested_stock_count`;
  WB 0);
* `days_of_cover` = available ÷ rate (one decimal; empty when nothing sells);
* `runs_out_on` = today + ⌊days_of_cover⌋; `last_day_to_ship` = runs_out_on − lead time;
* `units_to_ship` = rate × target − max(0, available + in transit + requested − rate × lead time),
  i.e. what makes the stock left when a shipment sent today arrives cover `target_cover_days`,
  rounded up to a whole unit and then to the product's box multiple; 0 when what is there and on
  the way already does;
* `urgency` — `overdue` (last day to ship has passed), `urgent` (within `URGENT_DAYS`), `planned`
  (something to ship later), `ok` (nothing to ship);
* `in_doubt` — the supply guard (warehouse/supply_guard.py) found the marketplace's own numbers
  for this product disagreeing this sync: the plan is shown but marked.

Sorted by urgency, then last day to ship, then units (most first).

For the Telegram bot (`/plan`, the report's "ship first" block) and any other reader — call these
with a `StockReader` (warehouse/stock_reads.py) of the tenant and its settings
(`warehouse.supply_settings.load_settings(session, tenant_id)`):
* `tenant_plan(reader, settings, today, PLANS[tier].products)` → `pl.DataFrame` of the plan
  (`PLAN_COLUMNS`);
* `plan_rows(plan)` → list of dicts (JSON-ready: dates as ISO strings);
* `urgent_rows(plan)` → the rows to ship first (`overdue` + `urgent`), most urgent first;
* `warehouse.supply_guard.guard_findings(reader)` → the broken identities of the last sync.
`today` is the tenant's date: `tenant_today(timezone)`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from warehouse.plan_products import first_products
from warehouse.supply_settings import SupplySettings
from warehouse.warehouse_groups import FBS_SUFFIX, WB_AGGREGATE_NAMES, WB_POOLED_GROUP

MAX_DAYS = 36_500
URGENT_DAYS = 7  # "ship this week": the report's ship-first block and the `urgent` filter
URGENCY_ORDER = ("overdue", "urgent", "planned", "ok")
OZON_ADS = "ozon_ads_28d"
PSEUDO_WAREHOUSES = frozenset(
    {"В пути до получателей", "В пути возвраты на склад WB", "Всего находится на складах", "Остальные"}
)
INPUT_SCHEMA: dict[str, Any] = {
    "marketplace": pl.String,
    "product_id": pl.Int64,
    "article": pl.String,
    "title": pl.String,
    "destination": pl.String,
    "fbs": pl.Boolean,
    "available": pl.Int64,
    "in_transit": pl.Int64,
    "requested": pl.Int64,
    "daily_rate": pl.Float64,
    "rate_source": pl.String,
    "in_doubt": pl.Boolean,
}
PLAN_COLUMNS = (
    "marketplace",
    "product_id",
    "article",
    "title",
    "destination",
    "daily_rate",
    "rate_source",
    "available",
    "in_transit",
    "requested",
    "days_of_cover",
    "runs_out_on",
    "lead_time_days",
    "last_day_to_ship",
    "units_to_ship",
    "box_multiple",
    "urgency",
    "in_doubt",
)


def tenant_today(timezone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(ZoneInfo(timezone))).astimezone(ZoneInfo(timezone)).date()


# --- inputs: the stock model → one row per product × destination ---------------------------------


def build_inputs(
    metrics: pl.DataFrame,
    clusters: pl.DataFrame,
    window_days: int,
    doubtful: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Plan inputs from `mart.stock_metrics` rows (`metrics`: marketplace, product_id, article,
    title, warehouse_name, warehouse_kind, stock, orders, optionally in_way_from_client) and Ozon's
    per-warehouse cluster rows (`clusters`: product_id, warehouse_name, cluster_name, in_transit,
    requested, ads_cluster — `mart.ozon_cluster_stock`); `doubtful`: marketplace, product_id pairs
    the guard flagged."""
    if metrics.is_empty():
        return pl.DataFrame(schema=INPUT_SCHEMA)
    if "in_way_from_client" not in metrics.columns:
        metrics = metrics.with_columns(pl.lit(0, pl.Int64).alias("in_way_from_client"))
    fbs = pl.col("warehouse_kind") == "FBS"
    wb = pl.col("marketplace") == "wildberries"
    transit = pl.col("warehouse_kind") == "TRANSIT"
    # WB pools its own warehouses as soon as any WB-warehouse row carries an aggregate name.
    wb_pooled = (
        metrics.filter(wb & ~fbs & pl.col("warehouse_name").is_in(list(WB_AGGREGATE_NAMES))).height > 0
    )
    placed = (
        ~transit & (pl.col("warehouse_name") != "") & ~pl.col("warehouse_name").is_in(list(PSEUDO_WAREHOUSES))
    )
    # warehouse_remains gives WB's returns in transit per size, not per warehouse (TRANSIT rows): they
    # belong to the national line while WB pools; in the detailed mode no warehouse can be named.
    pooled_returns = transit & wb & pl.lit(wb_pooled) & (pl.col("in_way_from_client") > 0)
    rows = metrics.lazy().filter(placed | pooled_returns)
    cluster_of = (
        clusters.lazy().group_by("warehouse_name").agg(pl.col("cluster_name").drop_nulls().first())
        if not clusters.is_empty()
        else pl.LazyFrame(schema={"warehouse_name": pl.String, "cluster_name": pl.String})
    )
    rows = rows.join(cluster_of, on="warehouse_name", how="left").with_columns(
        pl.when(fbs)
        .then(pl.col("warehouse_name") + FBS_SUFFIX)
        .when(pl.col("marketplace") == "wildberries")
        .then(pl.lit(WB_POOLED_GROUP) if wb_pooled else pl.col("warehouse_name"))
        .otherwise(pl.coalesce("cluster_name", "warehouse_name"))
        .alias("destination"),
        fbs.alias("fbs"),
    )
    # Names per product once, joined back: carrying them through the destination grouping costs
    # more than the sums themselves.
    names = (
        metrics.lazy()
        .group_by("marketplace", "product_id")
        .agg(pl.col("article").drop_nulls().first(), pl.col("title").drop_nulls().first())
    )
    grouped = (
        rows.group_by("marketplace", "product_id", "destination")
        .agg(
            pl.col("fbs").first(),
            pl.col("stock").sum().cast(pl.Int64).alias("available"),
            pl.col("orders").sum().cast(pl.Int64).alias("orders"),
            # Returns on their way to WB's warehouses arrive as stock; Ozon's count only supplies.
            pl.when(pl.col("marketplace") == "wildberries")
            .then(pl.col("in_way_from_client").fill_null(0))
            .otherwise(0)
            .sum()
            .cast(pl.Int64)
            .alias("returns_in_transit"),
        )
        .join(names, on=["marketplace", "product_id"], how="left")
    )
    if not clusters.is_empty():
        per_cluster = (
            clusters.lazy()
            .filter(pl.col("cluster_name").is_not_null())
            .group_by("product_id", "cluster_name")
            .agg(
                pl.col("in_transit").sum().cast(pl.Int64),
                pl.col("requested").sum().cast(pl.Int64),
                pl.col("ads_cluster").max(),  # the same on every warehouse row of one cluster
            )
            .rename({"cluster_name": "destination"})
            .with_columns(pl.lit("ozon").alias("marketplace"))
        )
        grouped = grouped.join(per_cluster, on=["marketplace", "product_id", "destination"], how="left")
    else:
        grouped = grouped.with_columns(
            pl.lit(None, pl.Int64).alias("in_transit"),
            pl.lit(None, pl.Int64).alias("requested"),
            pl.lit(None, pl.Float64).alias("ads_cluster"),
        )
    orders_rate = pl.col("orders") / window_days
    inputs = grouped.with_columns(
        (pl.col("in_transit").fill_null(0) + pl.col("returns_in_transit")).alias("in_transit"),
        pl.col("requested").fill_null(0),
        pl.coalesce("ads_cluster", orders_rate).alias("daily_rate"),
        pl.when(pl.col("ads_cluster").is_not_null())
        .then(pl.lit(OZON_ADS))
        .otherwise(pl.lit(f"orders_{window_days}d"))
        .alias("rate_source"),
    )
    if doubtful is not None and not doubtful.is_empty():
        flagged = (
            doubtful.lazy()
            .select("marketplace", "product_id")
            .unique()
            .with_columns(pl.lit(True).alias("in_doubt"))
        )
        inputs = inputs.join(flagged, on=["marketplace", "product_id"], how="left")
    else:
        inputs = inputs.with_columns(pl.lit(None, pl.Boolean).alias("in_doubt"))
    return (
        inputs.with_columns(pl.col("in_doubt").fill_null(False))
        .select([pl.col(name).cast(kind) for name, kind in INPUT_SCHEMA.items()])
        .collect()
    )


# --- the plan ----------------------------------------------------------------------------------


def compute_plan(inputs: pl.DataFrame, settings: SupplySettings, today: date) -> pl.DataFrame:
    """The plan for `inputs` (`INPUT_SCHEMA`) under `settings`, as of the tenant's `today`."""
    frame = inputs.lazy()
    if settings.excluded_products:
        excluded = pl.LazyFrame(
            [p.model_dump() for p in settings.excluded_products],
            schema={"marketplace": pl.String, "product_id": pl.Int64},
        )
        frame = frame.join(excluded, on=["marketplace", "product_id"], how="anti")
    leads = settings.lead_times
    default_lead = (
        pl.when(pl.col("fbs"))
        .then(leads.fbs)
        .when(pl.col("marketplace") == "ozon")
        .then(leads.ozon)
        .otherwise(leads.wildberries)
    )
    if settings.destination_lead_times:
        overrides = pl.LazyFrame(
            [d.model_dump() for d in settings.destination_lead_times],
            schema={"marketplace": pl.String, "destination": pl.String, "days": pl.Int64},
        )
        frame = frame.join(overrides, on=["marketplace", "destination"], how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Int64).alias("days"))
    if settings.box_multiples:
        boxes = pl.LazyFrame(
            [b.model_dump() for b in settings.box_multiples],
            schema={"marketplace": pl.String, "product_id": pl.Int64, "multiple": pl.Int64},
        )
        frame = frame.join(boxes, on=["marketplace", "product_id"], how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Int64).alias("multiple"))

    rate, target = pl.col("daily_rate"), settings.target_cover_days
    selling = rate > 0
    cover = pl.when(selling).then(pl.col("available") / rate)
    pipeline = pl.col("available") + pl.col("in_transit") + pl.col("requested")
    lead = pl.col("lead_time_days")
    # What a shipment sent today must add so that, on arrival, target days of sales are there.
    need = rate * target - pl.max_horizontal(pl.lit(0.0), pipeline - rate * lead)
    # 1e-9: a rate of 10/7 × 7 must give 10 units, not 11 from floating-point dust.
    units = pl.max_horizontal(pl.lit(0.0), (need - 1e-9).ceil()).cast(pl.Int64)
    box = pl.col("box_multiple")
    today_lit = pl.lit(today, pl.Date)
    plan = (
        frame.with_columns(
            pl.coalesce("days", default_lead).cast(pl.Int64).alias("lead_time_days"),
            pl.col("multiple").fill_null(1).alias("box_multiple"),
        )
        .with_columns(
            cover.alias("_cover"),
            ((units + box - 1) // box * box).alias("units_to_ship"),
        )
        .with_columns(
            pl.col("_cover").round(1).alias("days_of_cover"),
            # Capped at a century: a trickle of sales against a big stock must still give a date.
            (today_lit + pl.duration(days=pl.col("_cover").floor().clip(0, MAX_DAYS).cast(pl.Int64))).alias(
                "runs_out_on"
            ),
        )
        .with_columns((pl.col("runs_out_on") - pl.duration(days=lead)).alias("last_day_to_ship"))
        .with_columns(
            pl.when(pl.col("units_to_ship") == 0)
            .then(pl.lit("ok"))
            .when(pl.col("last_day_to_ship") < today_lit)
            .then(pl.lit("overdue"))
            .when(pl.col("last_day_to_ship") <= today_lit + pl.duration(days=URGENT_DAYS))
            .then(pl.lit("urgent"))
            .otherwise(pl.lit("planned"))
            .alias("urgency"),
            pl.col("daily_rate").round(2),
        )
        .with_columns(_urgency_key().alias("_key"))
        .select(*PLAN_COLUMNS, "_key")
    )
    # One integer key (urgency, last day) then units: a multi-column sort over strings and nullable
    # dates costs ~10× more. Single-threaded: on a busy worker, threads only contend.
    found = plan.collect()
    return found.sort(
        ["_key", "units_to_ship", "product_id", "destination"],
        descending=[False, True, False, False],
        multithreaded=False,
    ).drop("_key")


def _urgency_key() -> pl.Expr:
    """urgency rank × 10⁷ + the last day to ship in days (offset so past days stay positive; no
    date sorts last within its urgency)."""
    rank = pl.col("urgency").replace_strict(URGENCY_ORDER, range(len(URGENCY_ORDER)), return_dtype=pl.Int64)
    day = pl.col("last_day_to_ship").cast(pl.Int64).fill_null(4_000_000) + 5_000_000
    return rank * 10_000_000 + day


def filter_plan(
    plan: pl.DataFrame,
    marketplace: str | None = None,
    destination: str | None = None,
    urgency: str | None = None,
) -> pl.DataFrame:
    if marketplace:
        plan = plan.filter(pl.col("marketplace") == marketplace)
    if destination:
        plan = plan.filter(pl.col("destination") == destination)
    if urgency:
        plan = plan.filter(pl.col("urgency") == urgency)
    return plan


def plan_rows(plan: pl.DataFrame) -> list[dict[str, Any]]:
    """The plan as JSON-ready dicts (dates as ISO strings), in plan order."""
    return plan.with_columns(
        pl.col("runs_out_on").cast(pl.String), pl.col("last_day_to_ship").cast(pl.String)
    ).to_dicts()


def urgent_rows(plan: pl.DataFrame) -> list[dict[str, Any]]:
    """What to ship first: rows whose last day to ship has passed or comes within `URGENT_DAYS`."""
    return plan_rows(plan.filter(pl.col("urgency").is_in(["overdue", "urgent"])))


def tenant_plan(
    reader: Any, settings: SupplySettings, today: date, product_limit: int | None = None
) -> pl.DataFrame:
    """The plan of the tenant `reader` (a StockReader) reads, from its current stock model;
    `product_limit`: the plan tier's first N products only (`PLANS[tier].products`), as the sheet."""
    metrics, clusters, doubtful, window_days = reader.supply_inputs()
    if product_limit is not None:
        metrics, _ = first_products(metrics, product_limit)
    return compute_plan(build_inputs(metrics, clusters, window_days, doubtful), settings, today)

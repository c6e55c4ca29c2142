"""The supply guard: identities a marketplace's own numbers must satisfy, checked every sync.

A marketplace can change what its numbers mean without notice (WB pooled its Russian warehouses
on 2026-08-15 with no API change). A plan built on numbers that no longer add up is wrong in a way
the seller cannot see, so each sync checks, per product:

* `wb_remains_total` — WB's warehouse_remains: named warehouses + aggregates (every line but the
  pseudo-rows) = its own `Всего находится на складах`;
* `wb_report_vs_remains` — the WB-warehouse stock the sync used (stocks-report, summed over
  warehouses) = the same sum in warehouse_remains;
* `ozon_clusters_vs_totals` — Ozon's `/v1/analytics/stocks` summed over clusters = the `/v4`
  FBO total (`present − reserved`).

The two identities across reports ignore differences up to `TOLERANCE_UNITS` or `TOLERANCE_SHARE`
of the larger side (the reports are taken seconds apart while orders come in). `wb_remains_total`
compares lines of one report, so any difference counts: with the share tolerance a seller with 400
units at a warehouse could lose 8 without a warning. A broken identity does not stop the sync:
the sheet and the API still publish, the product's plan rows are marked `in_doubt`, the Dagster
asset check `identities_hold` warns and `stock_tracker_supply_guard_breaks` counts it.

`guard_findings(reader)` gives the last sync's findings for a tenant (the bot's one-time message).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from warehouse.supply_mart import read_guard

IDENTITIES = ("wb_remains_total", "wb_report_vs_remains", "ozon_clusters_vs_totals")
TOLERANCE_UNITS = 2
TOLERANCE_SHARE = 0.02
REMAINS_TOTAL = "Всего находится на складах"
REMAINS_PSEUDO = ("В пути до получателей", "В пути возвраты на склад WB", REMAINS_TOTAL, "Остальные")
_FINDING = {
    "marketplace": pl.String,
    "product_id": pl.Int64,
    "identity": pl.String,
    "expected": pl.Int64,
    "reported": pl.Int64,
}


def check_identities(mart: Any, marketplaces: tuple[str, ...] | list[str]) -> tuple[pl.DataFrame, list[str]]:
    """(findings beyond tolerance, identities checked) for the tenant's latest raw loads."""
    parts, checked = [], []
    if "wildberries" in marketplaces and mart._table_exists("wb_remains"):
        pseudo = ", ".join(f"'{name}'" for name in REMAINS_PSEUDO)
        remains = _frame(
            mart.rows(
                f"select nm_id, sum(case when line not in ({pseudo}) then quantity else 0 end), "
                f"sum(case when line = '{REMAINS_TOTAL}' then quantity else 0 end) "
                "from {raw}.wb_remains group by nm_id"
            ),
            ["product_id", "named", "total"],
        )
        parts.append(_compare(remains, "wildberries", "wb_remains_total", "named", "total", exact=True))
        checked.append("wb_remains_total")
        if mart._table_exists("wb_stock"):
            report = _frame(
                mart.rows(
                    "select nm_id, sum(quantity) from {raw}.wb_stock where warehouse_kind = 'FBO' "
                    "and snapshot_at = (select max(snapshot_at) from {raw}.wb_stock) group by nm_id"
                ),
                ["product_id", "report"],
            )
            both = remains.join(report, on="product_id", how="full", coalesce=True).fill_null(0)
            parts.append(_compare(both, "wildberries", "wb_report_vs_remains", "named", "report"))
            checked.append("wb_report_vs_remains")
    if (
        "ozon" in marketplaces
        and mart._table_exists("ozon_stock_by_scheme")
        and mart._table_exists("ozon_stock")
    ):
        totals = _frame(
            mart.rows(
                "select sku, sum(coalesce(present, 0) - coalesce(reserved, 0)) "
                "from {raw}.ozon_stock_by_scheme where scheme = 'fbo' and snapshot_at = "
                "(select max(snapshot_at) from {raw}.ozon_stock_by_scheme) group by sku"
            ),
            ["product_id", "v4"],
        )
        clusters = _frame(
            mart.rows(
                "select sku, sum(quantity) from {raw}.ozon_stock where warehouse_kind = 'FBO' "
                "and snapshot_at = (select max(snapshot_at) from {raw}.ozon_stock) group by sku"
            ),
            ["product_id", "clusters"],
        )
        both = totals.join(clusters, on="product_id", how="full", coalesce=True).fill_null(0)
        parts.append(_compare(both, "ozon", "ozon_clusters_vs_totals", "v4", "clusters"))
        checked.append("ozon_clusters_vs_totals")
    findings = pl.concat(parts) if parts else pl.DataFrame(schema=_FINDING)
    return findings.sort("marketplace", "identity", "product_id"), checked


def _frame(rows: list[tuple[Any, ...]], names: list[str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={n: pl.Int64 for n in names}, orient="row")


def _compare(
    frame: pl.DataFrame, marketplace: str, identity: str, expected: str, reported: str, exact: bool = False
) -> pl.DataFrame:
    gap = (pl.col(expected) - pl.col(reported)).abs()
    allowed = (
        pl.lit(0.0)
        if exact
        else pl.max_horizontal(
            pl.lit(float(TOLERANCE_UNITS)), pl.max_horizontal(expected, reported) * TOLERANCE_SHARE
        )
    )
    return frame.filter(gap > allowed).select(
        pl.lit(marketplace).alias("marketplace"),
        pl.col("product_id").cast(pl.Int64),
        pl.lit(identity).alias("identity"),
        pl.col(expected).cast(pl.Int64).alias("expected"),
        pl.col(reported).cast(pl.Int64).alias("reported"),
    )


def record_findings(mart: Any, findings: pl.DataFrame, checked_at: datetime) -> None:
    """Replace the tenant's findings with this sync's (none when every identity holds)."""
    with mart.transaction():
        mart._sql("delete from mart.supply_guard where tenant_id = $tenant", {"tenant": mart.tenant})
        for row in findings.iter_rows(named=True):
            mart._sql(
                "insert into mart.supply_guard values ($tenant, $marketplace, $at, $product_id, $identity, "
                "$expected, $reported)",
                {"tenant": mart.tenant, "at": checked_at, **row},
            )


def guard_findings(reader: Any) -> list[dict[str, Any]]:
    """The last sync's broken identities for the tenant of `reader` (a StockReader)."""
    return read_guard(*reader.supply_readers()).to_dicts()

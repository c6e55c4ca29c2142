"""Which sheet group a warehouse's numbers belong to (DESIGN §4, §6): a group pairs the stock and
the orders of the same places.

Since 2026-08-15 WB reports its own warehouses in aggregate (marketplace-api.md §1.5): stock as
`Склад WB РФ` / `Склад WB СГТ РФ` (warehouse_remains) or `Склад WB` (stocks report, id −999999),
while a few places (Коледино, non-RF warehouses) keep their names; orders come only as `Склад WB`
(order feed) or `Склад WB РФ` (supplier/orders). Stock under one name and orders under another
would give two groups, one with all the stock and no orders and one with the orders and a false
"out of stock". So as soon as a tenant's WB data carries an aggregate name, every WB warehouse
(FBO) row goes into one group `Склад WB`; the names WB still reports are kept in the model and the
API, each labelled with that group. The product never invents a split. Seller (FBS) warehouses
are reported by name everywhere and keep their own groups, labelled `<name> (FBS)`.
"""

from __future__ import annotations

from collections.abc import Iterable

WB_POOLED_GROUP = "Склад WB"
# How WB names its aggregated warehouses in stock reports and order feeds.
WB_AGGREGATE_NAMES = frozenset({"Склад WB", "Склад WB РФ", "Склад WB СГТ РФ"})
FBS_SUFFIX = " (FBS)"  # the same in every locale: sellers know the term


def pools_wb_warehouses(marketplace: str, rows: Iterable[tuple[str, str]]) -> bool:
    """Whether WB reports this tenant's WB-warehouse data in aggregate: any `(warehouse_kind,
    warehouse_name)` of a WB-warehouse stock or order row under an aggregate name."""
    return marketplace == "wildberries" and any(
        kind == "FBO" and name in WB_AGGREGATE_NAMES for kind, name in rows
    )


def group_label(warehouse_kind: str, warehouse_name: str, *, pooled: bool) -> str:
    """The sheet's group (its column header) for a warehouse's row."""
    if warehouse_kind == "FBS":
        return warehouse_name + FBS_SUFFIX
    return WB_POOLED_GROUP if pooled else warehouse_name

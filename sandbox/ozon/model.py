"""One Ozon seller account as the sandbox serves it.

Every endpoint reads these indexes, so totals agree between `/v4/product/info/stocks`,
`/v1/analytics/stocks`, `/v2/analytics/stock_on_warehouses` and the FBS warehouse methods.
FBO = stock at Ozon's warehouses (kind "marketplace"), FBS = at the seller's own (kind "seller").
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sandbox.scenario import OzonOrder, OzonProduct, OzonSeller, OzonWarehouse

Scheme = Literal["fbo", "fbs"]


def stable_int(text: str, modulo: int) -> int:
    """A number derived from `text` alone, so every load of a scenario serves the same ids."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") % modulo


def iso(moment: datetime) -> str:
    """A time as Ozon writes it: UTC, milliseconds, `Z` (`2021-09-01T00:34:56.103Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class StockCell:
    """One SKU at one warehouse (scenario rows for the same pair are summed).

    `available` is what buyers can still order (DESIGN §6); `present` is what is on the shelf,
    reservations included: Ozon's "present" = available to sell + reserved by buyers.
    """

    sku: int
    warehouse_id: int
    available: int
    reserved: int
    to_client: int
    from_client: int
    in_supply: int = 0
    requested: int = 0

    @property
    def present(self) -> int:
        return self.available + self.reserved


@dataclass(frozen=True)
class ShiftedOrder:
    row: OzonOrder
    at: datetime  # UTC, shifted so the scenario's clock reads as the load time


@dataclass
class OzonAccount:
    seller: OzonSeller
    shift: timedelta
    now: datetime
    products: list[OzonProduct] = field(default_factory=list)  # by product_id
    by_sku: dict[int, OzonProduct] = field(default_factory=dict)
    warehouses: dict[int, OzonWarehouse] = field(default_factory=dict)
    cells: list[StockCell] = field(default_factory=list)  # by (sku, warehouse_id)
    cells_by_sku: dict[int, list[StockCell]] = field(default_factory=dict)
    orders: list[ShiftedOrder] = field(default_factory=list)  # oldest first
    orders_by_sku: dict[int, list[ShiftedOrder]] = field(default_factory=dict)  # oldest first

    @classmethod
    def build(cls, seller: OzonSeller, shift: timedelta, now: datetime) -> OzonAccount:
        account = cls(seller=seller, shift=shift, now=now)
        account.products = sorted(seller["products"], key=lambda p: p["product_id"])
        account.by_sku = {p["sku"]: p for p in account.products}
        account.warehouses = {w["id"]: w for w in seller["warehouses"]}
        summed: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
        for stock in seller["stocks"]:
            cell = summed[(stock["sku"], stock["warehouse_id"])]
            cell[0] += stock["available"]
            cell[1] += stock.get("reserved", 0)
            cell[2] += stock.get("in_way_to_client", 0)
            cell[3] += stock.get("in_way_from_client", 0)
            cell[4] += stock.get("in_supply", 0)
            cell[5] += stock.get("requested", 0)
        account.cells = [StockCell(sku, wid, *values) for (sku, wid), values in sorted(summed.items())]
        by_sku: dict[int, list[StockCell]] = defaultdict(list)
        for cell in account.cells:
            by_sku[cell.sku].append(cell)
        account.cells_by_sku = dict(by_sku)
        account.orders = sorted(
            (
                ShiftedOrder(o, datetime.fromisoformat(o["at"]).astimezone(UTC) + shift)
                for o in seller["orders"]
            ),
            key=lambda o: (o.at, o.row["id"]),
        )
        orders_by_sku: dict[int, list[ShiftedOrder]] = defaultdict(list)
        for order in account.orders:
            orders_by_sku[order.row["sku"]].append(order)
        account.orders_by_sku = dict(orders_by_sku)
        return account

    # --- warehouses -----------------------------------------------------------------------------

    def scheme(self, warehouse_id: int) -> Scheme:
        return "fbo" if self.warehouses[warehouse_id]["kind"] == "marketplace" else "fbs"

    def warehouses_of(self, scheme: Scheme) -> list[OzonWarehouse]:
        return sorted(
            (w for w in self.warehouses.values() if self.scheme(w["id"]) == scheme), key=lambda w: w["id"]
        )

    def cluster(self, warehouse: OzonWarehouse) -> tuple[int, str]:
        """(cluster_id, cluster_name); a warehouse without a cluster is a cluster of its own."""
        name = warehouse.get("cluster") or warehouse["name"]
        return warehouse.get("cluster_id") or 4000 + stable_int(name, 1000), name

    def clusters(self) -> dict[int, tuple[str, list[OzonWarehouse]]]:
        """Ozon's clusters holding this seller's FBO warehouses: id → (name, warehouses by id)."""
        found: dict[int, tuple[str, list[OzonWarehouse]]] = {}
        for warehouse in self.warehouses_of("fbo"):
            cluster_id, name = self.cluster(warehouse)
            found.setdefault(cluster_id, (name, []))[1].append(warehouse)
        return found

    # --- stock ----------------------------------------------------------------------------------

    def cells_of(self, scheme: Scheme, sku: int | None = None) -> list[StockCell]:
        cells = self.cells if sku is None else self.cells_by_sku.get(sku, [])
        return [c for c in cells if self.scheme(c.warehouse_id) == scheme]

    def scheme_stock(self, sku: int, scheme: Scheme) -> tuple[int, int, list[int]]:
        """(present, reserved, warehouse ids) of one SKU under one scheme, as /v4 reports it."""
        cells = self.cells_of(scheme, sku)
        return (
            sum(c.present for c in cells),
            sum(c.reserved for c in cells),
            [c.warehouse_id for c in cells if c.present],
        )

    def available(self, sku: int, scheme: Scheme) -> int:
        """Units of one SKU available to sell under one scheme."""
        return sum(c.available for c in self.cells_of(scheme, sku))

    # --- sales ----------------------------------------------------------------------------------

    def fbo_sold(self, sku: int, now: datetime, warehouse_ids: set[int] | None = None) -> list[ShiftedOrder]:
        """Orders of `sku` shipped from Ozon warehouses (optionally some of them), not cancelled."""
        return [
            o
            for o in self.orders_by_sku.get(sku, [])
            if not o.row["cancelled"]
            and o.at <= now
            and self.scheme(o.row["warehouse_id"]) == "fbo"
            and (warehouse_ids is None or o.row["warehouse_id"] in warehouse_ids)
        ]

    def fbo_units(self, sku: int, days: int, now: datetime, warehouse_ids: set[int] | None = None) -> int:
        """Units of `sku` sold from Ozon warehouses in the last `days` days."""
        since = now - timedelta(days=days)
        return sum(o.row["quantity"] for o in self.fbo_sold(sku, now, warehouse_ids) if o.at > since)

    def days_without_sales(
        self, sku: int, now: datetime, window: int, warehouse_ids: set[int] | None = None
    ) -> int:
        """Whole days since the last FBO sale of `sku`, at most `window` (no sale seen in it)."""
        sold = self.fbo_sold(sku, now, warehouse_ids)
        return window if not sold else min(window, (now - sold[-1].at).days)

    def price(self, sku: int) -> float:
        """The product's current price: its latest order's, else a stable made-up one."""
        orders = self.orders_by_sku.get(sku)
        return float(orders[-1].row["price"]) if orders else float(300 + stable_int(str(sku), 50) * 100)

"""One WB seller account as the sandbox serves it: every endpoint is derived from these indexes,
so stock totals agree between wb-warehouses, warehouse_remains, seller-warehouses and /api/v3/stocks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from sandbox.scenario import WbOrder, WbSeller, WbStock, WbWarehouse, WbWarehouseMode
from sandbox.wb.tokens import TokenClaims, TokenError, read_token

MSK = timezone(timedelta(hours=3))
WarehouseMode = WbWarehouseMode

# Since 2026-08-15 WB collapses Russian WB warehouses (release note 570, marketplace-api.md §1.5).
AGGREGATE_ID = -999999
AGGREGATE_ANY = "Склад WB"  # stocks-report/wb-warehouses and order-feed
AGGREGATE_RF = "Склад WB РФ"  # warehouse_remains, supplier/orders
AGGREGATE_RF_OVERSIZED = "Склад WB СГТ РФ"
# Kept by name in warehouse_remains (news 13440 lists more; Коледино is the one named in the note).
AGGREGATION_EXEMPT = frozenset({"Коледино"})
NON_RF_REGIONS = frozenset({"Беларусь", "Казахстан", "Армения", "Кыргызстан", "Узбекистан", "Грузия"})

PSEUDO_TO_CLIENT = "В пути до получателей"
PSEUDO_FROM_CLIENT = "В пути возвраты на склад WB"
PSEUDO_TOTAL = "Всего находится на складах"


def _stable_int(text: str, modulo: int) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") % modulo


@dataclass
class ShiftedOrder:
    row: WbOrder
    at: datetime  # UTC, shifted to look current
    last_change: datetime
    cancel_at: datetime | None


@dataclass
class WbAccount:
    seller: WbSeller
    shift: timedelta
    now: datetime
    claims: TokenClaims
    chrt: dict[int, tuple[dict, dict]] = field(default_factory=dict)  # chrt_id -> (product, size)
    warehouses: dict[int, WbWarehouse] = field(default_factory=dict)
    wb_stocks: list[WbStock] = field(default_factory=list)
    seller_stocks: list[WbStock] = field(default_factory=list)
    orders: list[ShiftedOrder] = field(default_factory=list)  # by last change, oldest first
    cards: list[dict] = field(default_factory=list)  # by (updatedAt, nmID)
    warehouse_mode: WarehouseMode | None = None  # the seller's own; None: the sandbox-wide switch

    @classmethod
    def build(cls, seller: WbSeller, shift: timedelta, now: datetime) -> WbAccount:
        try:
            claims = read_token(seller["credentials"]["token"])
        except TokenError as exc:
            raise ValueError(
                f"seller {seller['name']}: the scenario's WB token is not a JWT ({exc})"
            ) from None
        account = cls(
            seller=seller, shift=shift, now=now, claims=claims, warehouse_mode=seller.get("wb_warehouse_mode")
        )
        account.warehouses = {w["id"]: w for w in seller["warehouses"]}
        for product in seller["products"]:
            for size in product["sizes"]:
                account.chrt[size["chrt_id"]] = (product, size)
        for stock in seller["stocks"]:
            kind = account.warehouses[stock["warehouse_id"]]["kind"]
            (account.wb_stocks if kind == "marketplace" else account.seller_stocks).append(stock)
        account.orders = sorted(
            (account._shift_order(o) for o in seller["orders"]), key=lambda o: o.last_change
        )
        account.cards = account._build_cards()
        return account

    # --- time ---------------------------------------------------------------------------------

    def _shift_order(self, order: WbOrder) -> ShiftedOrder:
        at = datetime.fromisoformat(order["at"]).astimezone(UTC) + self.shift
        # Orders change again a little later (payment confirmed, shipped); a stable offset per order.
        # Capped a minute before load so a feed snapshot taken now (whole seconds) holds them all.
        settled = max(at, self.now - timedelta(minutes=1))
        last_change = max(at, min(at + timedelta(minutes=5 + _stable_int(order["id"], 600)), settled))
        cancel_at = None
        if order["cancelled"]:
            cancel_at = max(at, min(at + timedelta(hours=2 + _stable_int(order["id"] + "c", 40)), settled))
            last_change = max(last_change, cancel_at)
        return ShiftedOrder(order, at, last_change, cancel_at)

    def _build_cards(self) -> list[dict]:
        cards = []
        for product in self.seller["products"]:
            nm_id = product["nm_id"]
            updated = self.now - timedelta(minutes=_stable_int(str(nm_id), 60 * 24 * 200))
            stamp = updated.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-1] + "Z"
            subject_id = product.get("subject_id") or 1000 + _stable_int(product["subject"], 9000)
            cards.append(
                {
                    "nmID": nm_id,
                    "imtID": nm_id + 100_000_000,
                    "nmUUID": hashlib.md5(str(nm_id).encode()).hexdigest()[:8]
                    + "-0000-7000-8000-000000000000",
                    "subjectID": subject_id,
                    "subjectName": product["subject"],
                    "vendorCode": product["vendor_code"],
                    "brand": product["brand"],
                    "title": product["title"],
                    "description": "",
                    "needKiz": False,
                    "photos": [],
                    "dimensions": {
                        "length": 10,
                        "width": 10,
                        "height": 5,
                        "weightBrutto": 0.3,
                        "isValid": True,
                    },
                    "characteristics": [],
                    "sizes": [
                        {
                            "chrtID": s["chrt_id"],
                            "techSize": s["tech_size"],
                            "wbSize": "",
                            "skus": s["barcodes"],
                        }
                        for s in product["sizes"]
                    ],
                    "tags": [],
                    "createdAt": stamp,
                    "updatedAt": stamp,
                }
            )
        cards.sort(key=lambda c: (c["updatedAt"], c["nmID"]))
        return cards

    # --- warehouse names under the 2026 aggregation ----------------------------------------------

    def _is_rf(self, warehouse: WbWarehouse) -> bool:
        return warehouse.get("region", "") not in NON_RF_REGIONS

    def remains_name(self, warehouse: WbWarehouse, mode: WarehouseMode) -> str:
        if mode == "detailed" or not self._is_rf(warehouse) or warehouse["name"] in AGGREGATION_EXEMPT:
            return warehouse["name"]
        return AGGREGATE_RF_OVERSIZED if warehouse.get("oversized") else AGGREGATE_RF

    # --- endpoints' data ---------------------------------------------------------------------------

    def wb_warehouse_items(
        self, mode: WarehouseMode, nm_ids: set[int] | None, chrt_ids: set[int] | None
    ) -> list[dict]:
        """stocks-report/wb-warehouses: one row per size per WB warehouse."""
        rows: dict[tuple[int, int], dict] = {}
        for stock in self.wb_stocks:
            product, _ = self.chrt[stock["chrt_id"]]
            if nm_ids and product["nm_id"] not in nm_ids:
                continue
            if nm_ids and chrt_ids and stock["chrt_id"] not in chrt_ids:
                continue
            warehouse = self.warehouses[stock["warehouse_id"]]
            if mode == "aggregated":
                wid, name, region = AGGREGATE_ID, AGGREGATE_ANY, AGGREGATE_ANY
            else:
                wid, name, region = warehouse["id"], warehouse["name"], warehouse.get("region", "")
            key = (stock["chrt_id"], wid)
            row = rows.get(key)
            if row is None:
                row = rows[key] = {
                    "nmId": product["nm_id"],
                    "chrtId": stock["chrt_id"],
                    "warehouseId": wid,
                    "warehouseName": name,
                    "regionName": region,
                    "quantity": 0,
                    "inWayToClient": 0,
                    "inWayFromClient": 0,
                }
            row["quantity"] += stock["quantity"]
            row["inWayToClient"] += stock.get("in_way_to_client", 0)
            row["inWayFromClient"] += stock.get("in_way_from_client", 0)
        return list(rows.values())

    def seller_warehouse_items(self, nm_ids: set[int] | None, chrt_ids: set[int] | None) -> list[dict]:
        """stocks-report/seller-warehouses: one row per size per seller warehouse."""
        items = []
        for stock in self.seller_stocks:
            product, _ = self.chrt[stock["chrt_id"]]
            if nm_ids and product["nm_id"] not in nm_ids:
                continue
            if nm_ids and chrt_ids and stock["chrt_id"] not in chrt_ids:
                continue
            warehouse = self.warehouses[stock["warehouse_id"]]
            items.append(
                {
                    "chrtId": stock["chrt_id"],
                    "nmId": product["nm_id"],
                    "quantity": stock["quantity"],
                    "regionName": warehouse.get("region", ""),
                    "warehouseId": warehouse["id"],
                    "warehouseName": warehouse["name"],
                }
            )
        return items

    def seller_warehouses(self) -> list[WbWarehouse]:
        return [w for w in self.seller["warehouses"] if w["kind"] == "seller"]

    def seller_stock_amounts(self, warehouse_id: int, chrt_ids: list[int]) -> list[dict]:
        """POST /api/v3/stocks/{id}: amount per known chrtId (0 when none there), unknown ones omitted."""
        on_hand: dict[int, int] = {}
        for stock in self.seller_stocks:
            if stock["warehouse_id"] == warehouse_id:
                on_hand[stock["chrt_id"]] = on_hand.get(stock["chrt_id"], 0) + stock["quantity"]
        return [{"chrtId": c, "amount": on_hand.get(c, 0)} for c in chrt_ids if c in self.chrt]

    def remains_rows(self, mode: WarehouseMode, group: dict[str, bool]) -> list[dict]:
        """warehouse_remains download: rows by the requested grouping, pseudo-rows included."""
        grouped: dict[tuple, dict] = {}
        for stock in self.wb_stocks:
            product, size = self.chrt[stock["chrt_id"]]
            key_fields: dict[str, object] = {}
            if group.get("groupByBrand"):
                key_fields["brand"] = product["brand"]
            if group.get("groupBySubject"):
                key_fields["subjectName"] = product["subject"]
            if group.get("groupBySa"):
                key_fields["vendorCode"] = product["vendor_code"]
            if group.get("groupByNm"):
                key_fields["nmId"] = product["nm_id"]
                key_fields["volume"] = 1.33
            if group.get("groupByBarcode"):
                key_fields["barcode"] = size["barcodes"][0] if size["barcodes"] else ""
            if group.get("groupBySize"):
                key_fields["techSize"] = size["tech_size"]
            key = tuple(key_fields.items())
            entry = grouped.setdefault(key, {"fields": key_fields, "to": 0, "from": 0, "by": {}})
            entry["to"] += stock.get("in_way_to_client", 0)
            entry["from"] += stock.get("in_way_from_client", 0)
            name = self.remains_name(self.warehouses[stock["warehouse_id"]], mode)
            entry["by"][name] = entry["by"].get(name, 0) + stock["quantity"]
        rows = []
        for entry in grouped.values():
            total = sum(entry["by"].values())
            warehouses = [
                {"warehouseName": PSEUDO_TO_CLIENT, "quantity": entry["to"]},
                {"warehouseName": PSEUDO_FROM_CLIENT, "quantity": entry["from"]},
                {"warehouseName": PSEUDO_TOTAL, "quantity": total},
                *({"warehouseName": n, "quantity": q} for n, q in entry["by"].items()),
            ]
            # WB lists only warehouses with a non-zero quantity.
            rows.append({**entry["fields"], "warehouses": [w for w in warehouses if w["quantity"]]})
        return rows

    def order_warehouse(self, order: ShiftedOrder, mode: WarehouseMode, feed: bool) -> tuple[str, str, bool]:
        """(warehouseName, region, is seller warehouse) as an order endpoint reports it."""
        warehouse = self.warehouses[order.row["warehouse_id"]]
        if warehouse["kind"] == "seller":
            return warehouse["name"], warehouse.get("region", ""), True
        if mode == "aggregated":
            if feed:
                return AGGREGATE_ANY, "", False
            return self.remains_name(warehouse, mode), warehouse.get("region", ""), False
        return warehouse["name"], warehouse.get("region", ""), False

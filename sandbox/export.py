"""A scenario from a real WB seller-cabinet export ("История остатков", /work/shared/data/README.md).

The export has no ids besides nmId, so warehouses, sizes and barcodes get stable synthetic ids;
stocks equal the export's per (size, warehouse), and each row's "Заказали, шт" becomes that many
orders spread over the export's 7 days. `cabinet_export_expectations` reads the same file into
the numbers a test (or the published sheet) should reproduce.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.generate import MSK, TOKEN_EXPIRES_AT, WB_WAREHOUSES, ean13, wb_srid
from sandbox.wb.tokens import make_token

# The export covers 22–28 Oct 2025; at 09:00 on the 29th the last 7 full Moscow days are exactly those.
EXPORT_CLOCK = "2025-10-29T09:00:00+03:00"
PERIOD_START = datetime(2025, 10, 22, tzinfo=MSK)
PERIOD_DAYS = 7
SELLER_NAME = "its-collagen"
SEED = 20251029
FBS_NAME = "Маркетплейс"  # how the cabinet names the seller's own (FBS) stock
FBS_ID = 871893  # the predecessor seller's real FBS warehouse id

# The cabinet shortens some warehouse names; reuse the generator's ids for the same places.
_ALIASES = {"Новосемейкино": "Самара (Новосемейкино)", "Краснодар": "Краснодар (Тихорецкая)"}
_KNOWN_IDS = {name: wid for wid, name, _ in WB_WAREHOUSES}

ExpectationKey = tuple[int, str, str]  # (nm_id, tech_size, warehouse name)

# The export's columns this reader uses; the cabinet adds others (sums, turnover) it ignores.
REQUIRED_COLUMNS = (
    "Артикул продавца",
    "Название",
    "Артикул WB",
    "Предмет",
    "Бренд",
    "Размер",
    "Регион",
    "Склад",
    "Заказали, шт",
    "Остатки на текущий день, шт",
    "В пути к клиенту, шт",
    "В пути от клиента, шт",
    "Текущая цена с учетом скидок, ₽",
)


class ExportError(ValueError):
    """The file is not a WB cabinet stock-history export this reader understands."""


def _number(cell: str) -> int:
    """Export cells: empty means 0; tolerate spaces (incl. NBSP) as thousands separators."""
    cleaned = cell.replace("\u00a0", "").replace(" ", "").replace(",", ".")
    return int(float(cleaned)) if cleaned else 0


def _tech_size(cell: str) -> str:
    return "0" if cell.strip() in ("", "-") else cell.strip()


def _rows(path: str | Path) -> Iterator[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        f.readline()  # line 1 is the report title, line 2 the header
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ExportError(
                "not a WB cabinet stock-history export («История остатков»): line 2 lacks the column(s) "
                + ", ".join(f"«{c}»" for c in missing)
            )
        yield from reader


def _stable_id(text: str, low: int, high: int) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return low + int.from_bytes(digest, "big") % (high - low)


def _warehouse_id(name: str, taken: set[int]) -> int:
    wid = _KNOWN_IDS.get(_ALIASES.get(name, name)) or _stable_id(name, 100_000, 1_000_000)
    while wid in taken:  # a hash collision: step to the next free id, still deterministic
        wid += 1
    return wid


def scenario_from_cabinet_export(path: str | Path) -> dict[str, Any]:
    """A one-seller WB scenario whose stocks and orders are exactly the export's."""
    rng = random.Random(SEED)
    products: dict[int, dict[str, Any]] = {}
    chrt_of: dict[tuple[int, str], int] = {}
    warehouses: dict[str, dict[str, Any]] = {}
    stocks: dict[tuple[int, int], dict[str, Any]] = {}
    orders: list[dict[str, Any]] = []
    period = timedelta(days=PERIOD_DAYS)

    for row in _rows(path):
        nm_id, size = int(row["Артикул WB"]), _tech_size(row["Размер"])
        product = products.get(nm_id)
        if product is None:
            product = products[nm_id] = {
                "nm_id": nm_id,
                "vendor_code": row["Артикул продавца"],
                "brand": row["Бренд"],
                "subject": row["Предмет"],
                "title": row["Название"],
                "sizes": [],
            }
        chrt_id = chrt_of.get((nm_id, size))
        if chrt_id is None:
            # Like DESIGN §5's example (nm 163383326 → chrt 263383326): nmId + 100M per size index.
            chrt_id = nm_id + 100_000_000 * (len(product["sizes"]) + 1)
            if chrt_id in chrt_of.values():
                raise ValueError(f"synthetic chrt_id {chrt_id} collides; nmId {nm_id} size {size}")
            chrt_of[nm_id, size] = chrt_id
            product["sizes"].append(
                {"chrt_id": chrt_id, "tech_size": size, "barcodes": [ean13(f"20{chrt_id:010d}")]}
            )

        name = row["Склад"].strip()
        warehouse = warehouses.get(name)
        if warehouse is None:
            if name == FBS_NAME:
                warehouse = {"id": FBS_ID, "name": name, "kind": "seller"}
            else:
                wid = _warehouse_id(name, {w["id"] for w in warehouses.values()} | {FBS_ID})
                warehouse = {"id": wid, "name": name, "region": row["Регион"].strip(), "kind": "marketplace"}
            warehouses[name] = warehouse

        stock = stocks.setdefault(
            (chrt_id, warehouse["id"]),
            {
                "chrt_id": chrt_id,
                "warehouse_id": warehouse["id"],
                "quantity": 0,
                "in_way_to_client": 0,
                "in_way_from_client": 0,
            },
        )
        stock["quantity"] += _number(row["Остатки на текущий день, шт"])
        stock["in_way_to_client"] += _number(row["В пути к клиенту, шт"])
        stock["in_way_from_client"] += _number(row["В пути от клиента, шт"])

        count = _number(row["Заказали, шт"])
        price = float(_number(row["Текущая цена с учетом скидок, ₽"]))
        for j in range(count):
            # Evenly over the 7 days, each order at a random point of its slot: deterministic and
            # never outside 22 Oct 00:00 – 28 Oct 23:59:59 MSK.
            at = PERIOD_START + period * ((j + rng.random()) / count)
            orders.append(
                {
                    "id": wb_srid(rng, len(orders)),
                    "at": at.replace(microsecond=0).isoformat(),
                    "chrt_id": chrt_id,
                    "warehouse_id": warehouse["id"],
                    "price": price,
                    "cancelled": False,
                }
            )

    if not products:
        raise ExportError("the export has its header but no product rows")
    # A (size, warehouse) the cabinet lists with all zeros is no stock row: absent reads as 0.
    stock_rows = [
        s for s in stocks.values() if s["quantity"] or s["in_way_to_client"] or s["in_way_from_client"]
    ]
    token = make_token(random.Random(SEED), expires_at=TOKEN_EXPIRES_AT)
    seller = {
        "name": SELLER_NAME,
        "marketplace": "wildberries",
        "credentials": {"token": token},
        "products": list(products.values()),
        "warehouses": list(warehouses.values()),
        "stocks": stock_rows,
        "orders": orders,
    }
    # Whole-day shifting keeps the export's 22–28 Oct as exactly the last 7 full days.
    return {
        "version": 1,
        "clock": EXPORT_CLOCK,
        "time_shift": "calendar_days",
        "wb_warehouse_mode": "detailed",
        "sellers": [seller],
    }


def cabinet_export_expectations(path: str | Path) -> dict[ExpectationKey, dict[str, int]]:
    """The export's numbers per (nm_id, tech_size, warehouse name): stock, in-way both ways, orders."""
    expected: dict[ExpectationKey, dict[str, int]] = {}
    for row in _rows(path):
        key = (int(row["Артикул WB"]), _tech_size(row["Размер"]), row["Склад"].strip())
        entry = expected.setdefault(
            key, {"stock": 0, "in_way_to_client": 0, "in_way_from_client": 0, "orders": 0}
        )
        entry["stock"] += _number(row["Остатки на текущий день, шт"])
        entry["in_way_to_client"] += _number(row["В пути к клиенту, шт"])
        entry["in_way_from_client"] += _number(row["В пути от клиента, шт"])
        entry["orders"] += _number(row["Заказали, шт"])
    return expected

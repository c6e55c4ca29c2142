"""The scenario file (DESIGN §5): the one input format of the sandbox.

A scenario is plain JSON, validated once on load by a pydantic TypeAdapter over TypedDicts, so a
50 000-SKU file is parsed and checked in Rust and stays as plain dicts (cheap to index and serve).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal, NotRequired

from pydantic import Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict


class ScenarioError(ValueError):
    """A scenario file that cannot be served; the message names the offending place."""


# --- Wildberries ------------------------------------------------------------------------------


class WbSize(TypedDict):
    chrt_id: int
    tech_size: str
    barcodes: list[str]


class WbProduct(TypedDict):
    nm_id: int
    vendor_code: str
    brand: str
    subject: str
    title: str
    sizes: list[WbSize]
    subject_id: NotRequired[int]


class WbWarehouse(TypedDict):
    id: int
    name: str
    kind: Literal["marketplace", "seller"]
    region: NotRequired[str]
    # WB folds oversized-cargo (СГТ) warehouses into their own aggregate since 2026-08-15.
    oversized: NotRequired[bool]


class WbStock(TypedDict):
    chrt_id: int
    warehouse_id: int
    quantity: int
    in_way_to_client: NotRequired[int]
    in_way_from_client: NotRequired[int]


class WbOrder(TypedDict):
    id: str
    at: str
    chrt_id: int
    warehouse_id: int
    price: float
    cancelled: bool


class WbCredentials(TypedDict):
    token: str


# How WB names its own warehouses (marketplace-api.md §1.5): by name before 2026-08-15
# (`detailed`), as the aggregates `Склад WB` / `Склад WB РФ` / `Склад WB СГТ РФ` since (`aggregated`).
WbWarehouseMode = Literal["detailed", "aggregated"]


class WbSeller(TypedDict):
    name: str
    marketplace: Literal["wildberries"]
    credentials: WbCredentials
    products: list[WbProduct]
    warehouses: list[WbWarehouse]
    stocks: list[WbStock]
    orders: list[WbOrder]
    # This seller's mode; without it the scenario's `wb_warehouse_mode` (or the control switch).
    wb_warehouse_mode: NotRequired[WbWarehouseMode]


# --- Ozon -------------------------------------------------------------------------------------


class OzonProduct(TypedDict):
    product_id: int
    offer_id: str
    sku: int
    name: str
    brand: str
    category: str  # Ozon's product type (`type_name`), the seller's «Предмет»
    # The description category holding that type in Ozon's tree; defaults to the type's own name.
    parent_category: NotRequired[str]
    barcode: NotRequired[str]


class OzonWarehouse(TypedDict):
    id: int
    name: str
    kind: Literal["marketplace", "seller"]
    cluster: NotRequired[str]
    cluster_id: NotRequired[int]


class OzonStock(TypedDict):
    sku: int
    warehouse_id: int
    available: int  # units available to sell (DESIGN §6); Ozon's `present` = available + reserved
    reserved: NotRequired[int]
    in_way_to_client: NotRequired[int]
    in_way_from_client: NotRequired[int]
    # Supplies to this Ozon warehouse: units in supplies on their way (`transit_stock_count` adds
    # them) and units in supply requests not yet shipped (`requested_stock_count`).
    in_supply: NotRequired[int]
    requested: NotRequired[int]


class OzonOrder(TypedDict):
    id: str
    at: str
    sku: int
    warehouse_id: int
    quantity: int
    price: float
    cancelled: bool


class OzonCredentials(TypedDict):
    client_id: str
    api_key: str


class OzonSeller(TypedDict):
    name: str
    marketplace: Literal["ozon"]
    credentials: OzonCredentials
    products: list[OzonProduct]
    warehouses: list[OzonWarehouse]
    stocks: list[OzonStock]
    orders: list[OzonOrder]


Seller = Annotated[WbSeller | OzonSeller, Field(discriminator="marketplace")]


# --- Google Sheets (sandbox/sheets) -------------------------------------------------------------


class ScenarioWorksheet(TypedDict):
    title: str
    rows: NotRequired[list[list[str | int | float | bool | None]]]


class ScenarioSpreadsheet(TypedDict):
    id: str
    title: NotRequired[str]
    owner: NotRequired[str]
    # Service-account e-mails allowed to write (editors) or only read (viewers).
    editors: NotRequired[list[str]]
    viewers: NotRequired[list[str]]
    sheets: NotRequired[list[ScenarioWorksheet]]


class Scenario(TypedDict):
    version: Literal[1]
    clock: str
    sellers: list[Seller]
    wb_warehouse_mode: NotRequired[WbWarehouseMode]  # sellers without their own mode
    # `exact` (default): timestamps move by real now − clock. `calendar_days`: by whole days, so the
    # clock's date becomes today and every event keeps its wall-clock time and its day in a window
    # (a cabinet export's "last 7 days" stay exactly the last 7 full days).
    time_shift: NotRequired[Literal["exact", "calendar_days"]]
    spreadsheets: NotRequired[list[ScenarioSpreadsheet]]


_ADAPTER: TypeAdapter[Scenario] = TypeAdapter(Scenario)


def parse_scenario(raw: str | bytes) -> Scenario:
    """Parse and check a scenario; raise ScenarioError naming the first problems."""
    try:
        scenario = _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise ScenarioError(f"invalid scenario: {problems}") from None
    _check_references(scenario)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror}") from None
    return parse_scenario(raw)


def scenario_clock(scenario: Scenario) -> datetime:
    clock = datetime.fromisoformat(scenario["clock"])
    if clock.tzinfo is None:
        raise ScenarioError("invalid scenario: clock must carry a UTC offset")
    return clock


def time_shift(scenario: Scenario, now: datetime) -> timedelta:
    """How far scenario timestamps move so the scenario's `clock` reads as `now`."""
    clock = scenario_clock(scenario)
    if scenario.get("time_shift") == "calendar_days":
        return timedelta(days=(now.astimezone(clock.tzinfo).date() - clock.date()).days)
    return now - clock


def _check_references(scenario: Scenario) -> None:
    """Stocks and orders must point at products and warehouses of their own seller."""
    scenario_clock(scenario)
    seen_keys: set[tuple[str, str]] = set()
    for i, seller in enumerate(scenario["sellers"]):
        where = f"sellers.{i} ({seller['name']})"
        key = (seller["name"], seller["marketplace"])
        if key in seen_keys:
            raise ScenarioError(f"invalid scenario: {where}: {seller['marketplace']} seller listed twice")
        seen_keys.add(key)
        warehouse_ids = {w["id"] for w in seller["warehouses"]}
        if seller["marketplace"] == "wildberries":
            item_ids = {s["chrt_id"] for p in seller["products"] for s in p["sizes"]}
            item_key = "chrt_id"
        else:
            item_ids = {p["sku"] for p in seller["products"]}
            item_key = "sku"
        for table in ("stocks", "orders"):
            for j, row in enumerate(seller[table]):  # type: ignore[literal-required]
                if row[item_key] not in item_ids:
                    raise ScenarioError(
                        f"invalid scenario: {where}.{table}.{j}: unknown {item_key} {row[item_key]}"
                    )
                if row["warehouse_id"] not in warehouse_ids:
                    raise ScenarioError(
                        f"invalid scenario: {where}.{table}.{j}: unknown warehouse_id {row['warehouse_id']}"
                    )

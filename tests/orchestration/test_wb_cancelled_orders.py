"""Cancelled WB orders inside the orders window never count: sandbox → dlt → stock model → sheet
files, through the Dagster sync a seller's tenant runs.

The scenario keeps its days (`calendar_days`), so which orders fall into the 7 full days before
today is known in advance; a third of those are cancelled, several products keep only cancelled
orders at some warehouse, and the sheet must show exactly the orders that were not cancelled.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.fernet import Fernet
from dagster import DagsterInstance

from assets.runs import run_sync
from definitions import build_definitions
from sandbox.generate import generate_scenario
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer
from settings import Settings
from warehouse.app_db import migrate, session_factory
from warehouse.mart import Mart
from warehouse.sheet_layout import FBS_SUFFIX
from warehouse.tenants import active_tenants, create_tenant, store_credentials
from warehouse.vault import CredentialVault

WINDOW_DAYS = 7  # a new tenant's orders window
TENANT = "north-linen"


def days_before_clock(order: dict[str, Any], clock: datetime) -> int:
    """Full calendar days (in the clock's zone, Moscow) between an order and the scenario's clock."""
    return (clock.date() - datetime.fromisoformat(order["at"]).astimezone(clock.tzinfo).date()).days


def scenario_with_cancellations() -> dict[str, Any]:
    raw = generate_scenario(sellers=1, skus=40, warehouses=5, days=12, seed=31)
    raw["time_shift"] = "calendar_days"
    clock = datetime.fromisoformat(raw["clock"])
    seller = raw["sellers"][0]
    # Nothing from the clock's own day: today is outside the window, and after the shift part of
    # today lies in the future.
    seller["orders"] = [o for o in seller["orders"] if days_before_clock(o, clock) >= 1]
    in_window = [o for o in seller["orders"] if days_before_clock(o, clock) <= WINDOW_DAYS]
    for i, order in enumerate(in_window):
        order["cancelled"] = i % 3 == 0
    return raw


@dataclass
class Synced:
    seller: dict[str, Any]
    clock: datetime
    folder: Path
    window_order_ids: set[str]


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    home = tmp_path_factory.mktemp("cancelled")
    raw = scenario_with_cancellations()
    scenario = parse_scenario(orjson.dumps(raw))
    seller = raw["sellers"][0]
    key = Fernet.generate_key().decode()
    with pytest.MonkeyPatch.context() as patch, SandboxServer(scenario, time_scale=1000) as server:
        patch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", key)
        settings = Settings(home=home, encryption_keys=key, marketplace_time_scale=1000).sandbox_urls(
            server.urls
        )
        migrate(settings.app_database_url)
        with session_factory(settings.app_database_url)() as session:
            create_tenant(session, TENANT, seller["name"])
            store_credentials(session, CredentialVault([key]), TENANT, "wildberries", seller["credentials"])
            tenant = active_tenants(session)[0]
        assert tenant.orders_window_days == WINDOW_DAYS
        (home / "dagster").mkdir()
        with DagsterInstance.local_temp(str(home / "dagster")) as instance:
            outcome = run_sync(build_definitions(settings), instance, tenant, "test")
        assert outcome.success, outcome.error
        mart = Mart(settings.warehouse_url.replace("{tenant}", TENANT), TENANT)
        try:
            found = mart.rows("select order_id from mart.orders_window where tenant_id = $t", {"t": TENANT})
        finally:
            mart.close()
        yield Synced(
            seller,
            datetime.fromisoformat(raw["clock"]),
            settings.output_dir / seller["name"],  # type: ignore[operator]
            {str(r[0]) for r in found},
        )


def window_orders(synced: Synced, *, cancelled: bool) -> list[dict[str, Any]]:
    return [
        o
        for o in synced.seller["orders"]
        if 1 <= days_before_clock(o, synced.clock) <= WINDOW_DAYS and o["cancelled"] == cancelled
    ]


def by_product_and_group(synced: Synced, orders: list[dict[str, Any]]) -> Counter[tuple[int, str]]:
    """Order lines per (nmID, sheet group) — the group is the warehouse, FBS ones suffixed."""
    nm_of = {s["chrt_id"]: p["nm_id"] for p in synced.seller["products"] for s in p["sizes"]}
    warehouses = {w["id"]: w for w in synced.seller["warehouses"]}
    counts: Counter[tuple[int, str]] = Counter()
    for order in orders:
        warehouse = warehouses[order["warehouse_id"]]
        group = warehouse["name"] + (FBS_SUFFIX if warehouse["kind"] == "seller" else "")
        counts[(nm_of[order["chrt_id"]], group)] += 1
    return counts


def test_the_scenario_has_cancellations_where_they_matter(synced: Synced) -> None:
    kept = by_product_and_group(synced, window_orders(synced, cancelled=False))
    cancelled = by_product_and_group(synced, window_orders(synced, cancelled=True))
    assert sum(cancelled.values()) >= 10
    assert any(key in kept for key in cancelled), "cancellations next to kept orders of the same place"
    assert any(key not in kept for key in cancelled), "places whose only orders were cancelled"


def test_the_stock_model_keeps_only_orders_that_were_not_cancelled(synced: Synced) -> None:
    kept = {o["id"] for o in window_orders(synced, cancelled=False)}
    cancelled = {o["id"] for o in window_orders(synced, cancelled=True)}
    counted = synced.window_order_ids & cancelled
    assert not counted, f"{len(counted)} of {len(cancelled)} cancelled orders counted in the window"
    assert synced.window_order_ids == kept


def test_the_sheet_counts_no_cancelled_order(synced: Synced) -> None:
    with (synced.folder / "wildberries.csv").open(encoding="utf-8-sig", newline="") as handle:
        top, _header, *rows = list(csv.reader(handle))
    groups = [top[c] for c in range(9, len(top), 3)]
    shown: Counter[tuple[int, str]] = Counter()
    for row in rows:
        orders = [int(row[10 + 3 * g]) for g in range(len(groups))]
        assert int(row[6]) == sum(orders), "the total is the sum of the groups"
        for group, count in zip(groups, orders, strict=True):
            shown[(int(row[3]), group)] += count
    expected = by_product_and_group(synced, window_orders(synced, cancelled=False))
    wrong = {k: (shown[k], expected[k]) for k in shown.keys() | expected.keys() if shown[k] != expected[k]}
    assert not wrong, f"orders shown vs not cancelled, per (nmID, group): {wrong}"
    total = sum(int(row[6]) for row in rows)
    assert total == len(window_orders(synced, cancelled=False))

"""The real WB cabinet export (../shared/data) as a scenario through the whole product: sandbox →
dlt → stock model → sheet files. Every product × warehouse stock and order count equals the export."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.fernet import Fernet
from dagster import DagsterInstance
from openpyxl import load_workbook

from assets.runs import run_sync
from definitions import build_definitions
from sandbox.export import SEED, cabinet_export_expectations, scenario_from_cabinet_export
from sandbox.generate import TOKEN_EXPIRES_AT
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer
from sandbox.wb.tokens import make_token
from settings import Settings
from warehouse.app_db import migrate, session_factory
from warehouse.tenants import active_tenants, create_tenant, store_credentials
from warehouse.vault import CredentialVault

EXPORT = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "wb-cabinet-stock-history-2025-10-22_28.csv"
)
PSEUDO = {"Остальные"}  # WB's catch-all: never a warehouse group (DESIGN §6)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from publish(tmp_path_factory, scenario_from_cabinet_export(EXPORT))


def publish(tmp_path_factory: pytest.TempPathFactory, raw: dict[str, Any]) -> Iterator[Path]:
    """One sync of the scenario's seller through the whole product; the folder of its files."""
    home = tmp_path_factory.mktemp("export")
    scenario = parse_scenario(orjson.dumps(raw))
    key = Fernet.generate_key().decode()
    with pytest.MonkeyPatch.context() as patch, SandboxServer(scenario, time_scale=1000) as server:
        patch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", key)
        settings = Settings(home=home, encryption_keys=key, marketplace_time_scale=1000).sandbox_urls(
            server.urls
        )
        migrate(settings.app_database_url)
        seller = scenario["sellers"][0]
        with session_factory(settings.app_database_url)() as session:
            create_tenant(session, "its-collagen", seller["name"])
            store_credentials(
                session, CredentialVault([key]), "its-collagen", "wildberries", seller["credentials"]
            )
            tenant = active_tenants(session)[0]
        (home / "dagster").mkdir()
        with DagsterInstance.local_temp(str(home / "dagster")) as instance:
            outcome = run_sync(build_definitions(settings), instance, tenant, "test")
        assert outcome.success, outcome.error
        yield settings.output_dir / seller["name"]  # type: ignore[operator]


def grid_from_csv(path: Path) -> tuple[list[str], list[str], list[list[str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1], rows[2:]


def test_every_product_and_warehouse_equals_the_export(published: Path) -> None:
    top, header, rows = grid_from_csv(published / "wildberries.csv")
    expected: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: {"stock": 0, "orders": 0})
    for (nm_id, _size, warehouse), values in cabinet_export_expectations(EXPORT).items():
        if warehouse in PSEUDO:
            continue
        group = "Маркетплейс (FBS)" if warehouse == "Маркетплейс" else warehouse
        expected[(nm_id, group)]["stock"] += values["stock"]
        expected[(nm_id, group)]["orders"] += values["orders"]
    groups = [top[c] for c in range(9, len(top), 3)]
    assert len(top) == len(header) == 9 + 3 * len(groups)
    assert groups[-1] == "Маркетплейс (FBS)"  # FBS groups after the WB warehouses
    assert groups[:-1] == sorted(groups[:-1], key=lambda n: n.lower().replace("ё", "е"))
    seen: dict[tuple[int, str], dict[str, int]] = {}
    for row in rows:
        nm_id = int(row[3])
        for g, group in enumerate(groups):
            stock, orders = int(row[9 + 3 * g]), int(row[10 + 3 * g])
            if stock or orders:
                seen[(nm_id, group)] = {"stock": stock, "orders": orders}
            turnover = row[11 + 3 * g]
            if orders:
                assert float(turnover) == pytest.approx(stock * 7 / orders, abs=0.051)
            else:
                assert turnover == ""
        # Totals are the sums of the groups; turnover follows stock × 7 ÷ orders.
        assert int(row[6]) == sum(int(row[10 + 3 * g]) for g in range(len(groups)))
        assert int(row[7]) == sum(int(row[9 + 3 * g]) for g in range(len(groups)))
        if int(row[6]):
            assert float(row[8]) == pytest.approx(int(row[7]) * 7 / int(row[6]), abs=0.051)
        else:
            assert row[8] == ""
    assert seen == {k: v for k, v in expected.items() if v["stock"] or v["orders"]}


def test_xlsx_has_the_same_grid_with_formats(published: Path) -> None:
    _, _, rows = grid_from_csv(published / "wildberries.csv")
    sheet = load_workbook(published / "stock.xlsx")["Wildberries"]
    assert sheet.freeze_panes == "E3"
    assert "A1:D1" in {str(r) for r in sheet.merged_cells.ranges}
    assert sheet.cell(3, 8).value == int(rows[0][7]) and isinstance(sheet.cell(3, 8).value, int)
    assert sheet.cell(3, 8).number_format == "#,##0"
    assert sheet.max_row == len(rows) + 2


# --- WB since 2026-08-15: the same export in the aggregated mode --------------------------------


@pytest.fixture(scope="module", params=["personal token", "base token"])
def published_aggregated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The export's seller on WB's aggregated reporting. With a Personal token stock comes from the
    stocks report (all `Склад WB`); WB serves that report to Personal/Service tokens only, so with
    a Base token it comes from warehouse_remains (`Склад WB РФ`, `Склад WB СГТ РФ`, and the names
    WB still reports). Orders come from the order feed: `Склад WB` for every WB warehouse."""
    raw = scenario_from_cabinet_export(EXPORT)
    raw["sellers"][0]["wb_warehouse_mode"] = "aggregated"
    if request.param == "base token":
        raw["sellers"][0]["credentials"]["token"] = make_token(
            random.Random(SEED), token_type=1, expires_at=TOKEN_EXPIRES_AT
        )
    yield from publish(tmp_path_factory, raw)


def test_aggregated_wb_is_one_group_pairing_stock_and_orders(published_aggregated: Path) -> None:
    top, _, rows = grid_from_csv(published_aggregated / "wildberries.csv")
    expected: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: {"stock": 0, "orders": 0})
    for (nm_id, _size, warehouse), values in cabinet_export_expectations(EXPORT).items():
        # Every WB warehouse, `Остальные` too: the cabinet's bucket of other WB warehouses, whose
        # orders the order feed now names `Склад WB` like all the others.
        group = "Маркетплейс (FBS)" if warehouse == "Маркетплейс" else "Склад WB"
        expected[(nm_id, group)]["stock"] += values["stock"]
        expected[(nm_id, group)]["orders"] += values["orders"]
    groups = [top[c] for c in range(9, len(top), 3)]
    assert groups == ["Склад WB", "Маркетплейс (FBS)"]
    assert len(rows) == len({nm_id for nm_id, _ in expected}) == 13
    for row in rows:
        nm_id = int(row[3])
        for g, group in enumerate(groups):
            stock, orders, turnover = int(row[9 + 3 * g]), int(row[10 + 3 * g]), row[11 + 3 * g]
            assert {"stock": stock, "orders": orders} == expected[(nm_id, group)], (nm_id, group)
            if orders:
                assert float(turnover) == pytest.approx(stock * 7 / orders, abs=0.051)
            else:
                assert turnover == ""
        # Totals are the sums of the groups: every unit and every order, each once.
        assert int(row[6]) == sum(expected[(nm_id, g)]["orders"] for g in groups)
        assert int(row[7]) == sum(expected[(nm_id, g)]["stock"] for g in groups)
        # No WB group with orders and 0 stock while the product's stock sits elsewhere on WB.
        wb_groups = [g for g, name in enumerate(groups) if not name.endswith("(FBS)")]
        for g in wb_groups:
            if int(row[10 + 3 * g]) and not int(row[9 + 3 * g]):
                assert not sum(int(row[9 + 3 * other]) for other in wb_groups), (nm_id, groups[g])
    sheet = load_workbook(published_aggregated / "stock.xlsx")["Wildberries"]
    assert [sheet.cell(1, 10 + 3 * g).value for g in range(len(groups))] == groups

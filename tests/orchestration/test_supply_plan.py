"""The supply plan end to end: a hand-written scenario with known rates, stock, supplies and lead
times → sandbox → dlt → stock model → the plan as `GET /api/v1/supply-plan` gives it, the
`План поставок` worksheet and the XLSX — on WB (both warehouse modes) and Ozon (clusters, FBS).
And the guard: each identity trips on a sandbox that breaks it and stays quiet on one that does not.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from cryptography.fernet import Fernet
from dagster import DagsterEventType, DagsterInstance
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from api.main import create_app
from api.platform_metrics import PlatformCollector, default_sources
from assets.runs import SyncOutcome, run_sync
from definitions import build_definitions
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer
from sandbox.wb.tokens import make_token
from settings import Settings
from warehouse import counters
from warehouse.app_db import engine_for, migrate, session_factory
from warehouse.supply_plan import tenant_today
from warehouse.tenants import active_tenants, store_credentials, update_settings
from warehouse.vault import CredentialVault

MSK = timezone(timedelta(hours=3))
CLOCK = datetime(2026, 11, 20, 12, 0, tzinfo=MSK)
SERVICE_ACCOUNT = "stock-tracker@st-prod.iam.gserviceaccount.com"
PASSWORD = "correct horse battery"
KOLEDINO, KAZAN, OWN = 507, 117986, 900001  # WB warehouses; the seller's own (FBS)
HOR, PUSH, KAZ, PODOLSK = 15431806189000, 15431806190000, 15431806191000, 22207999000
MOSCOW = "Москва, МО и Дальние регионы"
FBO = "marketplace"
RU_URGENCY = {"overdue": "просрочено", "urgent": "срочно", "planned": "по плану", "ok": "хватает"}


def _at(days_ago: float) -> str:
    return (CLOCK - timedelta(days=days_ago)).isoformat()


def _wb_orders(prefix: str, chrt: int, warehouse: int, count: int) -> list[dict[str, Any]]:
    """`count` orders spread over 1.5…6.5 days ago: inside the 7-day window whatever the hour."""
    return [
        {
            "id": f"{prefix}.{chrt}.{warehouse}.{i}",
            "at": _at(1.5 + 5 * i / max(1, count - 1)),
            "chrt_id": chrt,
            "warehouse_id": warehouse,
            "price": 1000.0,
            "cancelled": False,
        }
        for i in range(count)
    ]


def wb_seller(name: str, base: int, mode: str) -> dict[str, Any]:
    """A-1 sells 2/day at Коледино (10 left, 3 returns on their way there, 4 on their way to
    buyers) and 1/day at Казань (70 left); C-3 1/day at Коледино (3 left); B-2 1/day from the
    seller's own warehouse (5 left)."""
    products = [
        {
            "nm_id": base + i,
            "vendor_code": article,
            "brand": "Бренд",
            "subject": "Кружки",
            "title": f"Товар {article}",
            "sizes": [{"chrt_id": base + 100 + i, "tech_size": "0", "barcodes": [f"20{base + i:011d}"]}],
        }
        for i, article in enumerate(("A-1", "B-2", "C-3"))
    ]
    a, b, c = (base + 100 + i for i in range(3))
    return {
        "name": name,
        "marketplace": "wildberries",
        "wb_warehouse_mode": mode,
        "credentials": {"token": make_token(random.Random(base))},
        "products": products,
        "warehouses": [
            {"id": KOLEDINO, "name": "Коледино", "region": "Центральный", "kind": "marketplace"},
            {"id": KAZAN, "name": "Казань", "region": "Приволжский", "kind": "marketplace"},
            {"id": OWN, "name": "Мой склад", "kind": "seller"},
        ],
        "stocks": [
            # 4 on their way to buyers (leaving: not in the plan), 3 returns on their way back (arriving).
            {
                "chrt_id": a,
                "warehouse_id": KOLEDINO,
                "quantity": 10,
                "in_way_to_client": 4,
                "in_way_from_client": 3,
            },
            {"chrt_id": a, "warehouse_id": KAZAN, "quantity": 70},
            {"chrt_id": c, "warehouse_id": KOLEDINO, "quantity": 3},
            {"chrt_id": b, "warehouse_id": OWN, "quantity": 5},
        ],
        "orders": _wb_orders(name, a, KOLEDINO, 14)
        + _wb_orders(name, a, KAZAN, 7)
        + _wb_orders(name, c, KOLEDINO, 7)
        + _wb_orders(name, b, OWN, 7),
    }


def ozon_seller(name: str) -> dict[str, Any]:
    """O-1: 28 left in the Moscow cluster (ХОРУГВИНО 20 + ПУШКИНО 8), 10 in a supply on its way and 5
    requested, 56 sold there in 28 days (2/day, Ozon's `ads_cluster`); 50 in Казань, not selling.
    O-2: 4 at the seller's own warehouse, 7 sold in the window (1/day)."""
    fbo_sales = [
        {
            "id": f"{name}-fbo-{i}",
            "at": _at(0.5 + i),
            "sku": 3001,
            "warehouse_id": HOR,
            "quantity": 2,
            "price": 500.0,
            "cancelled": False,
        }
        for i in range(28)
    ]
    fbs_sales = [
        {
            "id": f"{name}-fbs-{i}",
            "at": _at(1.5 + 5 * i / 6),
            "sku": 3002,
            "warehouse_id": PODOLSK,
            "quantity": 1,
            "price": 700.0,
            "cancelled": False,
        }
        for i in range(7)
    ]
    return {
        "name": name,
        "marketplace": "ozon",
        "credentials": {"client_id": "777001", "api_key": "key-777001"},
        "products": [
            {
                "product_id": 11,
                "offer_id": "O-1",
                "sku": 3001,
                "name": "Кружка",
                "brand": "Б",
                "category": "Кружка",
            },
            {
                "product_id": 12,
                "offer_id": "O-2",
                "sku": 3002,
                "name": "Тарелка",
                "brand": "Б",
                "category": "Тарелка",
            },
        ],
        "warehouses": [
            {
                "id": HOR,
                "name": "ХОРУГВИНО_РФЦ",
                "kind": "marketplace",
                "cluster": MOSCOW,
                "cluster_id": 4002,
            },
            {
                "id": PUSH,
                "name": "ПУШКИНО_1_РФЦ",
                "kind": "marketplace",
                "cluster": MOSCOW,
                "cluster_id": 4002,
            },
            {
                "id": KAZ,
                "name": "КАЗАНЬ_РФЦ_НОВЫЙ",
                "kind": "marketplace",
                "cluster": "Казань",
                "cluster_id": 4010,
            },
            {"id": PODOLSK, "name": "Склад Подольск", "kind": "seller"},
        ],
        "stocks": [
            # 6 on their way to buyers: orders leaving ХОРУГВИНО, no supply arriving there.
            {
                "sku": 3001,
                "warehouse_id": HOR,
                "available": 20,
                "in_supply": 10,
                "requested": 5,
                "in_way_to_client": 6,
            },
            {"sku": 3001, "warehouse_id": PUSH, "available": 8},
            {"sku": 3001, "warehouse_id": KAZ, "available": 50},
            {"sku": 3002, "warehouse_id": PODOLSK, "available": 4},
        ],
        "orders": fbo_sales + fbs_sales,
    }


@dataclass
class World:
    server: SandboxServer
    settings: Settings
    client: TestClient
    instance: DagsterInstance
    auth: dict[str, dict[str, str]]  # tenant name → headers
    tenant_ids: dict[str, str]
    home: Path
    book: dict[str, str]  # tenant name → spreadsheet id

    def sync(self, name: str) -> SyncOutcome:
        with session_factory(self.settings.app_database_url)() as session:
            tenant = next(t for t in active_tenants(session) if t.id == self.tenant_ids[name])
        outcome = run_sync(build_definitions(self.settings), self.instance, tenant, "test")
        assert outcome.success, outcome.error
        return outcome

    def plan(self, name: str, **params: Any) -> dict[str, Any]:
        answer = self.client.get("/api/v1/supply-plan", params=params, headers=self.auth[name])
        assert answer.status_code == 200, answer.text
        return answer.json()

    def sheet(self, name: str) -> dict[str, Any]:
        answer = requests.get(f"{self.server.control_url}/sheets/spreadsheets/{self.book[name]}", timeout=30)
        return {tab["title"]: tab for tab in answer.json()["sheets"]}

    def control(self, **switches: Any) -> None:
        requests.post(self.server.control_url + "/settings", json=switches, timeout=10).raise_for_status()

    def sheet_calls(self) -> list[str]:
        log = requests.get(self.server.control_url + "/requests?service=sheets", timeout=10).json()
        return [e["method"] for e in log]


SHOPS = {"Plan Shop": "plan-shop", "Pooled Shop": "pooled-shop"}


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    raw = {
        "version": 1,
        "clock": CLOCK.isoformat(),
        "sellers": [
            wb_seller("plan-shop", 163_000_000, "detailed"),
            ozon_seller("plan-shop"),
            wb_seller("pooled-shop", 164_000_000, "aggregated"),
        ],
        "spreadsheets": [
            {
                "id": f"book-{seller}",
                "owner": "seller@example.com",
                "editors": [SERVICE_ACCOUNT],
                "sheets": [{"title": "Мои заметки"}],
            }
            for seller in SHOPS.values()
        ],
    }
    scenario = parse_scenario(orjson.dumps(raw))
    key = Fernet.generate_key().decode()
    if getattr(request, "param", "embedded") == "postgres":
        app_url = warehouse_url = request.getfixturevalue("pg_url")
    else:
        app_url = f"sqlite:///{tmp_path}/app.db"
        warehouse_url = f"duckdb:///{tmp_path}/warehouse/{{tenant}}.duckdb"
    with pytest.MonkeyPatch.context() as patch, SandboxServer(scenario, time_scale=1000) as server:
        patch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", key)
        settings = Settings(
            home=tmp_path,
            app_database_url=app_url,
            warehouse_url=warehouse_url,
            encryption_keys=key,
            jwt_secret="test-jwt-secret-" + "x" * 40,
            marketplace_time_scale=1000,
            google_service_account_email=SERVICE_ACCOUNT,
            dagster_graphql_url="http://127.0.0.1:9/graphql",
        ).sandbox_urls(server.urls)
        migrate(app_url)
        auth, ids, books = {}, {}, {}
        with TestClient(create_app(settings)) as client:
            for shop, seller in SHOPS.items():
                registered = client.post(
                    "/api/v1/auth/register",
                    json={"email": f"owner@{seller}.example", "password": PASSWORD, "tenant_name": shop},
                )
                assert registered.status_code == 201, registered.text
                tenant_id = registered.json()["user"]["tenant_id"]
                ids[shop], books[shop] = tenant_id, f"book-{seller}"
                auth[shop] = {"Authorization": f"Bearer {registered.json()['access_token']}"}
                with session_factory(app_url)() as session:
                    update_settings(session, tenant_id, spreadsheet_id=books[shop])
                    for row in scenario["sellers"]:
                        if row["name"] == seller:
                            store_credentials(
                                session,
                                CredentialVault([key]),
                                tenant_id,
                                row["marketplace"],
                                row["credentials"],
                            )
            (tmp_path / "dagster").mkdir()
            with DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
                yield World(server, settings, client, instance, auth, ids, tmp_path, books)
    engine_for(app_url).dispose()


def _day(today: date, days: int | None) -> str | None:
    return None if days is None else (today + timedelta(days=days)).isoformat()


def _rows(plan: dict[str, Any], today: date) -> list[tuple[Any, ...]]:
    """(article, destination, rate, source, available, transit, requested, cover, runs out, lead,
    last day, units, box, urgency) with dates as days from today."""

    def days(text: str | None) -> int | None:
        return None if text is None else (date.fromisoformat(text) - today).days

    return [
        (
            r["article"],
            r["destination"],
            r["daily_rate"],
            r["rate_source"],
            r["available"],
            r["in_transit"],
            r["requested"],
            r["days_of_cover"],
            days(r["runs_out_on"]),
            r["lead_time_days"],
            days(r["last_day_to_ship"]),
            r["units_to_ship"],
            r["box_multiple"],
            r["urgency"],
        )
        for r in plan["items"]
    ]


# Units = rate × 30 − max(0, available + in transit + requested − rate × lead time), rounded up.
PLAN_SHOP = [
    ("C-3", "Коледино", 1.0, "orders_7d", 3, 0, 0, 3.0, 3, 7, -4, 30, 1, "overdue"),
    # 3 returns in transit: 60 − max(0, 10 + 3 − 2 × 7).
    ("A-1", "Коледино", 2.0, "orders_7d", 10, 3, 0, 5.0, 5, 7, -2, 60, 1, "overdue"),
    ("O-2", "Склад Подольск (FBS)", 1.0, "orders_7d", 4, 0, 0, 4.0, 4, 2, 2, 28, 1, "urgent"),
    ("B-2", "Мой склад (FBS)", 1.0, "orders_7d", 5, 0, 0, 5.0, 5, 2, 3, 27, 1, "urgent"),
    # 2/day from Ozon's 28-day ads_cluster; 28 there + 10 in transit + 5 requested.
    ("O-1", MOSCOW, 2.0, "ozon_ads_28d", 28, 10, 5, 14.0, 14, 10, 4, 37, 1, "urgent"),
    ("A-1", "Казань", 1.0, "orders_7d", 70, 0, 0, 70.0, 70, 7, 63, 0, 1, "ok"),
    ("O-1", "Казань", 0.0, "ozon_ads_28d", 50, 0, 0, None, None, 10, None, 0, 1, "ok"),
]
# WB reports its warehouses in aggregate: one national line, 80 units selling 3/day.
POOLED_SHOP = [
    ("C-3", "Склад WB", 1.0, "orders_7d", 3, 0, 0, 3.0, 3, 7, -4, 30, 1, "overdue"),
    ("B-2", "Мой склад (FBS)", 1.0, "orders_7d", 5, 0, 0, 5.0, 5, 2, 3, 27, 1, "urgent"),
    # 90 − (80 + 3 returns in transit − 3 × 7).
    ("A-1", "Склад WB", 3.0, "orders_7d", 80, 3, 0, 26.7, 26, 7, 19, 28, 1, "planned"),
]


@pytest.mark.parametrize("world", ["embedded", "postgres"], indirect=True)
def test_the_plan_is_exact_on_both_marketplaces_and_both_wb_modes(world: World) -> None:
    for shop in SHOPS:
        world.sync(shop)
    today = tenant_today("Europe/Moscow")
    plan = world.plan("Plan Shop")
    assert _rows(plan, today) == PLAN_SHOP
    assert plan["target_cover_days"] == 30 and plan["data_in_doubt"] == []
    assert not any(r["in_doubt"] for r in plan["items"])
    assert _rows(world.plan("Pooled Shop"), today) == POOLED_SHOP

    # Filters, and the same rows as CSV (by parameter or by Accept).
    urgent_ozon = world.plan("Plan Shop", marketplace="ozon", urgency="urgent")
    assert [(r["article"], r["destination"]) for r in urgent_ozon["items"]] == [
        ("O-2", "Склад Подольск (FBS)"),
        ("O-1", MOSCOW),
    ]
    assert [r["article"] for r in world.plan("Plan Shop", destination="Коледино")["items"]] == ["C-3", "A-1"]
    for kwargs in ({"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
        headers = {**world.auth["Plan Shop"], **kwargs.get("headers", {})}
        answer = world.client.get("/api/v1/supply-plan", params=kwargs.get("params"), headers=headers)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert [(r["article"], r["destination"], r["units_to_ship"]) for r in rows] == [
            (r[0], r[1], str(r[11])) for r in PLAN_SHOP
        ]
    bad = world.client.get(
        "/api/v1/supply-plan", params={"urgency": "soonish"}, headers=world.auth["Plan Shop"]
    )
    assert bad.status_code == 422
    assert world.client.get("/api/v1/supply-plan").status_code == 401

    # The worksheet: its own tab, in plan order; the seller's tab and the stock tabs are there too.
    tabs = world.sheet("Plan Shop")
    assert {"Мои заметки", "Wildberries", "Ozon", "План поставок"} <= set(tabs)
    values = tabs["План поставок"]["values"]
    assert values[1][:4] == ["Артикул продавца", "Артикул (nmID / SKU)", "Маркетплейс", "Направление"]
    assert [(row[0], row[3], row[13], row[15]) for row in values[2:]] == [
        (
            r[0],
            r[1],
            r[11],
            {"overdue": "просрочено", "urgent": "срочно", "planned": "по плану", "ok": "хватает"}[r[13]],
        )
        for r in PLAN_SHOP
    ]
    # The stock tabs keep their meaning: «В пути до покупателя» / «В пути конв. на склад WB» (E, F)
    # are WB's to-buyer and return units; Ozon reports no units on their way to buyers, and its
    # supplies on their way to a warehouse are not shown as such.
    wb_row = next(row for row in tabs["Wildberries"]["values"][2:] if row[2] == "A-1")
    ozon_row = next(row for row in tabs["Ozon"]["values"][2:] if row[2] == "O-1")
    assert (wb_row[4], wb_row[5], ozon_row[4]) == (4, 3, 0)
    # The XLSX carries it as one more worksheet.
    book = load_workbook(world.settings.output_dir / "Plan Shop" / "stock.xlsx", read_only=True)
    assert book.sheetnames == ["Wildberries", "Ozon", "План поставок"]
    xlsx_rows = list(book["План поставок"].iter_rows(min_row=3, values_only=True))
    assert [(r[0], r[3], r[13]) for r in xlsx_rows] == [(r[0], r[1], r[11]) for r in PLAN_SHOP]


def test_settings_change_the_plan_box_rounding_exclusions_and_lead_times(world: World) -> None:
    world.sync("Plan Shop")
    headers = world.auth["Plan Shop"]
    defaults = world.client.get("/api/v1/supply-plan/settings", headers=headers).json()
    assert defaults["target_cover_days"] == 30
    assert defaults["lead_times"] == {"wildberries": 7, "ozon": 10, "fbs": 2}
    a1 = next(r for r in world.plan("Plan Shop")["items"] if r["article"] == "A-1")["product_id"]
    c3 = next(r for r in world.plan("Plan Shop")["items"] if r["article"] == "C-3")["product_id"]
    settings = {
        "target_cover_days": 20,
        "lead_times": {"wildberries": 7, "ozon": 10, "fbs": 2},
        "destination_lead_times": [{"marketplace": "ozon", "destination": MOSCOW, "days": 3}],
        "box_multiples": [
            {"marketplace": "wildberries", "product_id": a1, "multiple": 12},
            {"marketplace": "ozon", "product_id": 3001, "multiple": 10},
        ],
        "excluded_products": [{"marketplace": "wildberries", "product_id": c3}],
    }
    saved = world.client.put("/api/v1/supply-plan/settings", json=settings, headers=headers)
    assert saved.status_code == 200, saved.text
    today = tenant_today("Europe/Moscow")
    rows = {(r[0], r[1]): r for r in _rows(world.plan("Plan Shop"), today)}
    assert ("C-3", "Коледино") not in rows  # excluded
    # A-1 Коледино: 2 × 20 − max(0, 10 − 14) = 40 → boxes of 12: 48.
    assert rows[("A-1", "Коледино")][11:13] == (48, 12)
    # O-1 Moscow, 3 days' lead: 2 × 20 − max(0, 43 − 6) = 3 → one box of 10; ships by T+11.
    assert rows[("O-1", MOSCOW)][9:13] == (3, 11, 10, 10)
    assert rows[("O-1", MOSCOW)][13] == "planned"
    # B-2 FBS: 20 − max(0, 5 − 2) = 17.
    assert rows[("B-2", "Мой склад (FBS)")][11] == 17
    assert world.client.get("/api/v1/supply-plan/settings", headers=headers).json()["target_cover_days"] == 20

    # The next sync publishes the new plan, and only it: the stock tabs are unchanged and untouched.
    before = world.sheet("Plan Shop")
    requests.delete(world.server.control_url + "/requests", timeout=10).raise_for_status()
    world.sync("Plan Shop")
    after = world.sheet("Plan Shop")
    assert world.sheet_calls().count("POST") == 1  # one batchUpdate: the plan's worksheet
    for title in ("Wildberries", "Ozon", "Мои заметки"):
        assert after[title] == before[title]
    assert after["План поставок"] != before["План поставок"]
    assert "C-3" not in [row[0] for row in after["План поставок"]["values"][2:]]
    # Unchanged since: nothing is written at all.
    requests.delete(world.server.control_url + "/requests", timeout=10).raise_for_status()
    world.sync("Plan Shop")
    assert "POST" not in world.sheet_calls()
    assert world.sheet("Plan Shop") == after


@pytest.mark.parametrize(
    "body",
    [
        {"target_cover_days": 0},
        {"box_multiples": [{"marketplace": "ozon", "product_id": 1, "multiple": 0}]},
        {"lead_times": {"wildberries": -1}},
        {
            "box_multiples": [
                {"marketplace": "ozon", "product_id": 1, "multiple": 2},
                {"marketplace": "ozon", "product_id": 1, "multiple": 3},
            ]
        },
        {"excluded_products": [{"marketplace": "amazon", "product_id": 1}]},
        {"surprise": 1},
    ],
)
def test_bad_settings_are_refused_and_nothing_is_stored(world: World, body: dict[str, Any]) -> None:
    headers = world.auth["Plan Shop"]
    answer = world.client.put("/api/v1/supply-plan/settings", json=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_error"
    assert world.client.get("/api/v1/supply-plan/settings", headers=headers).json()["target_cover_days"] == 30


def _guard_check(world: World, outcome: SyncOutcome) -> tuple[bool, str]:
    events = world.instance.all_logs(outcome.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    evaluation = next(
        e.dagster_event.event_specific_data  # type: ignore[union-attr]
        for e in events
        if e.dagster_event.event_specific_data.check_name == "identities_hold"  # type: ignore[union-attr]
    )
    return evaluation.passed, evaluation.severity.value


def _breaks(world: World) -> dict[tuple[str, str], float]:
    with session_factory(world.settings.app_database_url)() as session:
        return {
            (labels["marketplace"], labels["identity"]): value
            for name, labels, value in counters.read(session)
            if name == "supply_guard_breaks"
        }


@pytest.mark.parametrize(
    ("identity", "shop", "marketplace"),
    [
        ("wb_remains_total", "Pooled Shop", "wildberries"),
        ("wb_report_vs_remains", "Plan Shop", "wildberries"),
        ("ozon_clusters_vs_totals", "Plan Shop", "ozon"),
    ],
)
def test_each_guard_identity_trips_when_broken_and_stays_quiet_otherwise(
    world: World, identity: str, shop: str, marketplace: str
) -> None:
    quiet = world.sync(shop)
    assert _guard_check(world, quiet) == (True, "WARN")
    assert world.plan(shop)["data_in_doubt"] == [] and _breaks(world) == {}

    world.control(broken_identities=[identity])
    broken = world.sync(shop)  # the sync still succeeds and publishes
    assert _guard_check(world, broken) == (False, "WARN")
    plan = world.plan(shop)
    findings = plan["data_in_doubt"]
    assert [(f["marketplace"], f["identity"]) for f in findings] == [(marketplace, identity)]
    assert abs(findings[0]["expected"] - findings[0]["reported"]) == 7
    doubtful = {r["destination"] for r in plan["items"] if r["in_doubt"]}
    assert doubtful and all(
        r["marketplace"] == marketplace and r["product_id"] == findings[0]["product_id"]
        for r in plan["items"]
        if r["in_doubt"]
    )
    sheet_rows = world.sheet(shop)["План поставок"]["values"][2:]
    assert {row[16] for row in sheet_rows if row[1] == findings[0]["product_id"]} == {"под сомнением"}
    assert _breaks(world) == {(marketplace, identity): 1.0}

    world.control(broken_identities=[])
    healed = world.sync(shop)
    assert _guard_check(world, healed) == (True, "WARN")
    assert world.plan(shop)["data_in_doubt"] == []


def test_the_guard_counts_in_the_prometheus_metrics(world: World) -> None:
    world.control(broken_identities=["ozon_clusters_vs_totals"])
    world.sync("Plan Shop")
    registry = CollectorRegistry()
    registry.register(PlatformCollector(world.settings.app_database_url, default_sources(50, 50), None))
    text = generate_latest(registry).decode()
    assert (
        'stock_tracker_supply_guard_breaks_total{identity="ozon_clusters_vs_totals",marketplace="ozon"} 1.0'
        in text
    )


def test_plan_dates_follow_the_tenant_day(world: World) -> None:
    """A sanity anchor for the date arithmetic above: the API's `as_of` is the tenant's today."""
    world.sync("Pooled Shop")
    assert world.plan("Pooled Shop")["as_of"] == datetime.now(UTC).astimezone(MSK).date().isoformat()


@pytest.mark.parametrize("world", ["postgres"], indirect=True)
def test_the_guard_on_postgresql(world: World) -> None:
    """The same checks against the shared PostgreSQL warehouse (row-level security on the mart)."""
    world.sync("Plan Shop")
    assert world.plan("Plan Shop")["data_in_doubt"] == []
    world.control(broken_identities=["wb_report_vs_remains", "ozon_clusters_vs_totals"])
    outcome = world.sync("Plan Shop")
    assert _guard_check(world, outcome) == (False, "WARN")
    found = {(f["marketplace"], f["identity"]) for f in world.plan("Plan Shop")["data_in_doubt"]}
    assert found == {("wildberries", "wb_report_vs_remains"), ("ozon", "ozon_clusters_vs_totals")}
    assert _breaks(world) == {
        ("wildberries", "wb_report_vs_remains"): 1.0,
        ("ozon", "ozon_clusters_vs_totals"): 1.0,
    }

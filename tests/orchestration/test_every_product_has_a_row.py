"""Every catalogue product has a row (DESIGN §6), also one with no stock rows and no orders at all:
out of stock is what a seller opens the sheet to see. Through a whole sync on both warehouses —
sandbox → dlt → stock model → the published Google Sheet, the CSV, the XLSX — and the API."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import requests
from cryptography.fernet import Fernet
from dagster import DagsterInstance
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.main import create_app
from assets.runs import run_sync
from definitions import build_definitions
from sandbox.generate import generate_scenario
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer
from settings import Settings
from warehouse.app_db import engine_for, migrate, session_factory
from warehouse.tenants import active_tenants, store_credentials, update_settings
from warehouse.vault import CredentialVault

SELLER = "seller-2-urban-fox"  # on WB and Ozon
SERVICE_ACCOUNT = "stock-tracker@st-prod.iam.gserviceaccount.com"
BOOK = "book-every-product"
PASSWORD = "correct horse battery"
# A card / an Ozon product that nothing in the scenario stocks or orders.
WB_EMPTY = {
    "nm_id": 990000001,
    "vendor_code": "UF-EMPTY-1",
    "brand": "URBAN FOX",
    "subject": "Платья",
    "title": "Платье, распродано",
    "sizes": [{"chrt_id": 990000002, "tech_size": "44", "barcodes": ["2009900000020"]}],
}
OZON_EMPTY = {
    "product_id": 990000003,
    "offer_id": "UF-EMPTY-OZ",
    "sku": 990000004,
    "name": "Платье, распродано",
    "brand": "URBAN FOX",
    "category": "Одежда",
}
# The row of a product with nothing: id, in-way ×2, orders, stock, then turnover empty.
ZEROS = [0, 0, 0, 0]


@dataclass
class Published:
    folder: Path
    sheet: dict[str, list[list[Any]]]  # worksheet title → values as the Google Sheet holds them
    api: dict[str, list[dict[str, Any]]]  # marketplace → GET /api/v1/products/ items


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def published(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Published]:
    home = tmp_path_factory.mktemp(request.param)
    raw = generate_scenario(sellers=2, skus=5, warehouses=3, days=10, seed=14)
    for seller in raw["sellers"]:
        if seller["name"] == SELLER:
            seller["products"].append(WB_EMPTY if seller["marketplace"] == "wildberries" else OZON_EMPTY)
    raw["spreadsheets"] = [{"id": BOOK, "owner": "seller@example.com", "editors": [SERVICE_ACCOUNT]}]
    scenario = parse_scenario(orjson.dumps(raw))
    key = Fernet.generate_key().decode()
    if request.param == "embedded":
        app_url, warehouse_url = f"sqlite:///{home}/app.db", f"duckdb:///{home}/warehouse/{{tenant}}.duckdb"
    else:
        app_url = warehouse_url = request.getfixturevalue("pg_database")
    with pytest.MonkeyPatch.context() as patch, SandboxServer(scenario, time_scale=1000) as server:
        patch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", key)
        settings = Settings(
            home=home,
            app_database_url=app_url,
            warehouse_url=warehouse_url,
            encryption_keys=key,
            jwt_secret="test-jwt-secret-" + "x" * 40,
            marketplace_time_scale=1000,
            google_service_account_email=SERVICE_ACCOUNT,
            dagster_graphql_url="http://127.0.0.1:9/graphql",
        ).sandbox_urls(server.urls)
        migrate(app_url)
        with TestClient(create_app(settings)) as client:
            registered = client.post(
                "/api/v1/auth/register",
                json={"email": "owner@urban-fox.example", "password": PASSWORD, "tenant_name": "Urban Fox"},
            )
            assert registered.status_code == 201, registered.text
            tenant_id = registered.json()["user"]["tenant_id"]
            auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
            with session_factory(app_url)() as session:
                update_settings(session, tenant_id, spreadsheet_id=BOOK)
                for seller in scenario["sellers"]:
                    if seller["name"] == SELLER:
                        store_credentials(
                            session,
                            CredentialVault([key]),
                            tenant_id,
                            seller["marketplace"],
                            seller["credentials"],
                        )
                tenant = next(t for t in active_tenants(session) if t.id == tenant_id)
            (home / "dagster").mkdir()
            with DagsterInstance.local_temp(str(home / "dagster")) as instance:
                outcome = run_sync(build_definitions(settings), instance, tenant, "test")
            assert outcome.success, outcome.error
            api = {}
            for marketplace in ("wildberries", "ozon"):
                page = client.get(
                    "/api/v1/products/", params={"marketplace": marketplace, "page_size": 200}, headers=auth
                )
                assert page.status_code == 200, page.text
                api[marketplace] = page.json()["items"]
        book = requests.get(f"{server.control_url}/sheets/spreadsheets/{BOOK}", timeout=30).json()
        sheet = {tab["title"]: tab["values"] for tab in book["sheets"]}
        yield Published(settings.output_dir / "Urban Fox", sheet, api)  # type: ignore[operator]
        engine_for(app_url).dispose()


@pytest.fixture(scope="module")
def pg_database(admin_url: str) -> Iterator[str]:
    """A module-wide PostgreSQL database (tests/conftest.py's `pg_url` is per test)."""
    name = f"st_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def row_of(rows: list[list[Any]], product_id: int) -> list[Any]:
    found = [row for row in rows[2:] if str(row[3]) == str(product_id)]
    assert len(found) == 1, f"product {product_id} has {len(found)} rows"
    return found[0]


@pytest.mark.parametrize(
    ("marketplace", "title", "product_id", "article"),
    [
        ("wildberries", "Wildberries", WB_EMPTY["nm_id"], WB_EMPTY["vendor_code"]),
        ("ozon", "Ozon", OZON_EMPTY["sku"], OZON_EMPTY["offer_id"]),
    ],
)
def test_a_product_with_nothing_anywhere_has_a_row_of_zeros(
    published: Published, marketplace: str, title: str, product_id: int, article: str
) -> None:
    with (published.folder / f"{marketplace}.csv").open(encoding="utf-8-sig", newline="") as handle:
        csv_rows = list(csv.reader(handle))
    groups = (len(csv_rows[0]) - 9) // 3
    assert groups > 0  # other products do have stock: the sheet has warehouse groups
    expected = [article, product_id, *ZEROS, None, *[0, 0, None] * groups]

    in_csv = row_of(csv_rows, product_id)
    assert in_csv[2:] == [("" if v is None else str(v)) for v in expected]

    in_sheet = row_of(published.sheet[title], product_id)
    assert in_sheet[2:] + [None] * (len(expected) + 2 - len(in_sheet)) == expected

    book = load_workbook(published.folder / "stock.xlsx")[title]
    in_xlsx = row_of([[c.value for c in row] for row in book.iter_rows()], product_id)
    assert in_xlsx[2:] == expected

    item = next(i for i in published.api[marketplace] if i["product_id"] == product_id)
    assert (item["article"], item["stock"], item["orders"], item["days_of_cover"]) == (article, 0, 0, None)
    assert (item["in_way_to_client"], item["in_way_from_client"], item["warehouses"]) == (0, 0, 0)
    if marketplace == "wildberries":  # Ozon's brand and category come from other endpoints
        assert in_csv[:2] == [WB_EMPTY["brand"], WB_EMPTY["subject"]] == [item["brand"], item["subject"]]


def test_every_catalogue_product_is_in_every_output(published: Published) -> None:
    for marketplace, title in (("wildberries", "Wildberries"), ("ozon", "Ozon")):
        with (published.folder / f"{marketplace}.csv").open(encoding="utf-8-sig", newline="") as handle:
            in_csv = {int(row[3]) for row in list(csv.reader(handle))[2:]}
        in_sheet = {int(row[3]) for row in published.sheet[title][2:]}
        in_api = {i["product_id"] for i in published.api[marketplace]}
        assert in_csv == in_sheet == in_api and len(in_csv) == 6  # the generated 5 and the empty one

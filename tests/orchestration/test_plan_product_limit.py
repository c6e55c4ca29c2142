"""A tenant over its plan's product limit (DESIGN §6a): the sync loads every product, but the
published Google Sheet, the XLSX, the CSV and the API's export show the plan's first N products by
seller article and, below them, a note saying how many were left out and which plan shows them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
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
from warehouse.plans import PLANS
from warehouse.tenants import active_tenants, store_credentials, update_settings
from warehouse.vault import CredentialVault

SERVICE_ACCOUNT = "stock-tracker@st-prod.iam.gserviceaccount.com"
BOOK = "book-over-the-limit"
LIMIT = PLANS["starter"].products
CATALOGUE = LIMIT + 7


@dataclass
class Published:
    folder: Path
    sheet: list[list[Any]]  # the Wildberries worksheet as the Google Sheet holds it
    merges: list[dict[str, Any]]
    articles: list[str]  # the whole catalogue's seller articles, sorted
    export_csv: str  # GET /api/v1/stock/export?format=csv
    products: dict[str, Any]  # GET /api/v1/products/


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    home = tmp_path_factory.mktemp("limit")
    raw = generate_scenario(sellers=1, skus=CATALOGUE, warehouses=3, days=8, seed=5)
    raw["spreadsheets"] = [{"id": BOOK, "owner": "seller@example.com", "editors": [SERVICE_ACCOUNT]}]
    scenario = parse_scenario(orjson.dumps(raw))
    seller = scenario["sellers"][0]
    key = Fernet.generate_key().decode()
    app_url = f"sqlite:///{home}/app.db"
    with pytest.MonkeyPatch.context() as patch, SandboxServer(scenario, time_scale=1000) as server:
        patch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", key)
        settings = Settings(
            home=home,
            app_database_url=app_url,
            warehouse_url=f"duckdb:///{home}/warehouse/{{tenant}}.duckdb",
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
                json={
                    "email": "owner@many.example",
                    "password": "correct horse battery",
                    "tenant_name": "Many",
                },
            )
            assert registered.status_code == 201, registered.text
            tenant_id = registered.json()["user"]["tenant_id"]
            auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
            with session_factory(app_url)() as session:
                update_settings(session, tenant_id, spreadsheet_id=BOOK)
                store_credentials(
                    session, CredentialVault([key]), tenant_id, "wildberries", seller["credentials"]
                )
                tenant = next(t for t in active_tenants(session) if t.id == tenant_id)
            assert tenant.tier == "starter"  # sign-up starts a starter trial
            (home / "dagster").mkdir()
            with DagsterInstance.local_temp(str(home / "dagster")) as instance:
                outcome = run_sync(build_definitions(settings), instance, tenant, "test")
            assert outcome.success, outcome.error
            export = client.get("/api/v1/stock/export", params={"format": "csv"}, headers=auth)
            assert export.status_code == 200, export.text
            products = client.get("/api/v1/products/", params={"page_size": 200}, headers=auth)
            assert products.status_code == 200, products.text
        book = requests.get(f"{server.control_url}/sheets/spreadsheets/{BOOK}", timeout=30).json()
        tab = next(t for t in book["sheets"] if t["title"] == "Wildberries")
        yield Published(
            settings.output_dir / "Many",  # type: ignore[operator]
            tab["values"],
            tab.get("merges") or [],
            sorted(p["vendor_code"] for p in seller["products"]),  # type: ignore[index]
            export.content.decode("utf-8-sig"),
            products.json(),
        )
        engine_for(app_url).dispose()


NOTE = (
    f"Показаны первые {LIMIT} товаров по артикулу продавца: тариф Starter. Не показано: 7. "
    "Все товары — на тарифе Pro"
)


def _split(rows: list[list[Any]]) -> tuple[list[list[Any]], list[list[Any]]]:
    """Product rows (after the two header rows) up to the first empty row; the rows after."""
    body = rows[2:]
    blank = next(i for i, row in enumerate(body) if not any(v not in (None, "") for v in row))
    return body[:blank], body[blank + 1 :]


def _check(rows: list[list[Any]], articles: list[str]) -> None:
    products, after = _split(rows)
    assert len(products) == LIMIT
    # The first N by seller article; the rest are left out, not cut at random.
    assert [row[2] for row in products] == articles[:LIMIT]
    assert [[v for v in row if v not in (None, "")] for row in after] == [[NOTE]]
    assert after[0][0] == NOTE  # in column A, under the products


def test_the_published_sheet_shows_n_products_and_the_note(published: Published) -> None:
    assert len(published.articles) == CATALOGUE
    _check(published.sheet, published.articles)
    note_row = len(published.sheet) - 1
    # Merged across the frozen columns A–D, so it reads as one line of text over the info columns.
    assert {
        "startRowIndex": note_row,
        "endRowIndex": note_row + 1,
        "startColumnIndex": 0,
        "endColumnIndex": 4,
    } in [
        {k: m.get(k, 0) for k in ("startRowIndex", "endRowIndex", "startColumnIndex", "endColumnIndex")}
        for m in published.merges
    ]


def test_the_csv_and_the_xlsx_show_n_products_and_the_note(published: Published) -> None:
    with (published.folder / "wildberries.csv").open(encoding="utf-8-sig", newline="") as handle:
        _check(list(csv.reader(handle)), published.articles)
    book = load_workbook(published.folder / "stock.xlsx")["Wildberries"]
    rows = [[c.value for c in row] for row in book.iter_rows()]
    _check(rows, published.articles)
    assert f"A{len(rows)}:D{len(rows)}" in {str(r) for r in book.merged_cells.ranges}


def test_the_api_export_and_product_list_say_the_same(published: Published) -> None:
    _check(list(csv.reader(io.StringIO(published.export_csv))), published.articles)
    assert (published.products["total"], published.products["left_out_by_plan"]) == (LIMIT, 7)
    assert published.products["plan_note"] == NOTE

"""Stock reads over the stock model, on both warehouses: totals as the sheet counts them, paging,
search, filters, sorting, one product's warehouses and history, and the sheet as a file."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.conftest import Row, Seller, make_settings, register, seed_stock
from warehouse.mart import Mart
from warehouse.stock_reads import StockReader

WB_ROWS = [
    Row(101, "Коледино", 50, 10, article="ART-101", brand="Alfa", title="Крем для рук"),
    Row(101, "Казань", 0, 5, article="ART-101", brand="Alfa", title="Крем для рук"),
    Row(101, "Fulllog", 7, 0, kind="FBS", article="ART-101", brand="Alfa", title="Крем для рук"),
    # WB transit is per size, not per warehouse; pseudo-warehouses are totals, never places.
    Row(101, "", 0, 0, kind="TRANSIT", to_client=3, from_client=1, article="ART-101", brand="Alfa"),
    Row(101, "Остальные", 999, 0, article="ART-101", brand="Alfa"),
    Row(102, "Коледино", 2, 14, article="art-102", brand="Beta", title="Шампунь"),
    Row(103, "Казань", 300, 0, article="ART-103", brand="Beta", title="Мыло"),
    *[Row(200 + i, "Коледино", i, 1, article=f"BULK-{i:02d}", brand="Bulk", title="Bulk") for i in range(25)],
]
OZON_ROWS = [
    Row(5001, "ХОРУГВИНО_РФЦ", 10, 7, marketplace="ozon", article="OZ-1", brand="Gamma", title="Ozon")
]


@pytest.fixture(params=["duckdb", "postgres"])
def stock_settings(
    request: pytest.FixtureRequest, tmp_path: Path, app_db: str, sandbox: SandboxServer
) -> Settings:
    overrides = {} if request.param == "duckdb" else {"warehouse_url": app_db}
    return make_settings(tmp_path, app_db, sandbox, **overrides)


@pytest.fixture
def stock_client(stock_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(stock_settings)) as client:
        yield client


@pytest.fixture
def stocked(stock_client: TestClient, stock_settings: Settings) -> tuple[Seller, Seller]:
    seller, other = register(stock_client), register(stock_client, "Other")
    seed_stock(stock_settings, seller.tenant_id, WB_ROWS + OZON_ROWS)
    seed_stock(stock_settings, other.tenant_id, [Row(101, "Коледино", 4444, 1), Row(777, "Казань", 1, 1)])
    return seller, other


def products(client: TestClient, seller: Seller, **params: object) -> dict:
    response = client.get("/api/v1/products/", params=params, headers=seller.auth)
    assert response.status_code == 200, response.text
    return response.json()


def test_totals_follow_the_sheet(stock_client: TestClient, stocked: tuple[Seller, Seller]) -> None:
    seller, _ = stocked
    page = products(stock_client, seller, search="ART-101")
    assert page["total"] == 1
    item = page["items"][0]
    # Stock and orders over real warehouses (FBO + FBS); transit counted only as in-way.
    assert (item["stock"], item["orders"], item["warehouses"]) == (57, 15, 3)
    assert (item["in_way_to_client"], item["in_way_from_client"]) == (3, 1)
    assert item["days_of_cover"] == 26.6 and item["low_stock"] is False  # 57 × 7 ÷ 15
    assert (item["marketplace"], item["brand"], item["title"]) == ("wildberries", "Alfa", "Крем для рук")


def test_paging_sorting_and_filters(stock_client: TestClient, stocked: tuple[Seller, Seller]) -> None:
    seller, _ = stocked
    first = products(stock_client, seller, page_size=10)
    assert (first["total"], first["pages"], len(first["items"])) == (29, 3, 10)
    assert [i["article"] for i in first["items"][:3]] == ["ART-101", "art-102", "ART-103"]
    last = products(stock_client, seller, page_size=10, page=3)
    assert len(last["items"]) == 9
    beyond = products(stock_client, seller, page_size=10, page=9)
    assert beyond["items"] == [] and beyond["total"] == 29

    assert products(stock_client, seller, sort="-stock")["items"][0]["product_id"] == 103
    covers = [
        i["days_of_cover"]
        for i in products(stock_client, seller, sort="days_of_cover", page_size=200)["items"]
    ]
    assert covers[-1] is None and covers[:-2] == sorted(covers[:-2])  # no orders: last

    assert [i["product_id"] for i in products(stock_client, seller, marketplace="ozon")["items"]] == [5001]
    assert {i["product_id"] for i in products(stock_client, seller, search="beta")["items"]} == {102, 103}
    assert [i["product_id"] for i in products(stock_client, seller, search="шампунь")["items"]] == [102]
    assert [i["product_id"] for i in products(stock_client, seller, search="5001")["items"]] == [5001]
    assert products(stock_client, seller, search="100%")["total"] == 0  # % is a character, not a wildcard
    assert products(stock_client, seller, search="102шампунь")["total"] == 0  # not across two fields
    ranged = products(stock_client, seller, min_stock=10, max_stock=60, page_size=200)["items"]
    assert {i["product_id"] for i in ranged} == {101, 5001, *range(210, 225)}

    low = products(stock_client, seller, low_stock_only=True, page_size=200)["items"]
    assert all(i["low_stock"] and i["days_of_cover"] < 14 for i in low)
    assert {102, 5001} <= {i["product_id"] for i in low} and 103 not in {i["product_id"] for i in low}

    for bad in (
        {"page_size": 201},
        {"page": 0},
        {"sort": "price"},
        {"min_stock": -1},
        {"marketplace": "amazon"},
    ):
        assert stock_client.get("/api/v1/products/", params=bad, headers=seller.auth).status_code == 422


def test_paging_through_a_search_and_narrowing_it(
    stock_client: TestClient, stocked: tuple[Seller, Seller]
) -> None:
    # A search's matches are kept for the next page until the next sync: each page, each sort and
    # each added filter must still be its own answer.
    seller, _ = stocked
    pages = [
        products(stock_client, seller, search="bulk", sort="-stock", page_size=10, page=p) for p in (1, 2, 3)
    ]
    assert [p["total"] for p in pages] == [25, 25, 25]
    assert [i["product_id"] for p in pages for i in p["items"]] == [200 + i for i in reversed(range(25))]
    ascending = products(stock_client, seller, search="bulk", sort="stock", page_size=10, page=2)
    assert [i["product_id"] for i in ascending["items"]] == list(range(210, 220))
    assert products(stock_client, seller, search="bulk", min_stock=20)["total"] == 5
    assert products(stock_client, seller, search="bulk", min_stock=20, max_stock=21)["total"] == 2
    assert products(stock_client, seller, search="bulk", marketplace="ozon")["total"] == 0
    assert products(stock_client, seller, search="bul", sort="-stock", page_size=10)["total"] == 25
    assert products(stock_client, seller, search="bulk", sort="-stock", page_size=10) == pages[0]


def test_one_product_with_its_warehouses_and_history(
    stock_client: TestClient, stocked: tuple[Seller, Seller]
) -> None:
    seller, _ = stocked
    response = stock_client.get("/api/v1/products/101", headers=seller.auth)
    assert response.status_code == 200, response.text
    product = response.json()
    assert product["stock"] == 57
    warehouses = {(w["warehouse_kind"], w["warehouse_name"]): w for w in product["warehouse_stock"]}
    assert set(warehouses) == {("FBO", "Казань"), ("FBO", "Коледино"), ("FBS", "Fulllog")}
    assert warehouses[("FBO", "Коледино")]["days_of_cover"] == 35.0  # 50 × 7 ÷ 10
    assert warehouses[("FBS", "Fulllog")]["days_of_cover"] is None
    # WB reports these warehouses by name: each is its own sheet group.
    assert {w["warehouse_name"]: w["group"] for w in product["warehouse_stock"]} == {
        "Казань": "Казань",
        "Коледино": "Коледино",
        "Fulllog": "Fulllog (FBS)",
    }
    assert [p["stock"] for p in product["history"]] == [57 + 15, 57 + 6, 57]  # three snapshots, oldest first
    short = stock_client.get("/api/v1/products/101", params={"history_days": 2}, headers=seller.auth).json()
    assert [p["stock"] for p in short["history"]] == [57 + 6, 57]


def test_wb_aggregated_reporting_keeps_the_names_labelled_with_their_group(
    stock_client: TestClient, stock_settings: Settings
) -> None:
    seller = register(stock_client)
    seed_stock(
        stock_settings,
        seller.tenant_id,
        [
            Row(301, "Склад WB РФ", 100, 0),
            Row(301, "Коледино", 50, 0),  # still reported by name since 2026-08-15
            Row(301, "Склад WB", 0, 30),  # the order feed's only name for WB's warehouses
            Row(301, "Fulllog", 7, 2, kind="FBS"),
            Row(302, "Коледино", 4, 0),  # no aggregate of its own, but the tenant's WB reports them
        ],
    )
    detail = stock_client.get("/api/v1/products/301", headers=seller.auth).json()
    assert (detail["stock"], detail["orders"]) == (157, 32)  # totals unchanged
    breakdown = {
        w["warehouse_name"]: (w["group"], w["stock"], w["orders"], w["days_of_cover"])
        for w in detail["warehouse_stock"]
    }
    # Names as WB reports them; the days of cover of their group (150 × 7 ÷ 30), never a false 0.
    assert breakdown == {
        "Склад WB РФ": ("Склад WB", 100, 0, 35.0),
        "Коледино": ("Склад WB", 50, 0, 35.0),
        "Склад WB": ("Склад WB", 0, 30, 35.0),
        "Fulllog": ("Fulllog (FBS)", 7, 2, 24.5),
    }
    other = stock_client.get("/api/v1/products/302", headers=seller.auth).json()
    assert [(w["warehouse_name"], w["group"]) for w in other["warehouse_stock"]] == [("Коледино", "Склад WB")]

    schema = stock_client.get("/api/v1/openapi.json").json()["components"]["schemas"]["WarehouseStockOut"]
    assert "Склад WB" in schema["properties"]["group"]["description"]
    assert "group" in schema["required"]


def test_mart_row_level_security_holds_when_a_read_forgets_the_tenant(
    tmp_path: Path, app_db: str, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, app_db, sandbox, warehouse_url=app_db)  # the shared PostgreSQL mart
    with TestClient(create_app(settings)) as client:
        seller, other = register(client), register(client, "Other")
        seed_stock(settings, seller.tenant_id, [Row(101, "Коледино", 5, 1)])
        seed_stock(settings, other.tenant_id, [Row(101, "Казань", 1000, 2), Row(777, "Казань", 4444, 1)])
        owner = Mart(app_db, seller.tenant_id)  # the syncs' connection: not subject to the policies
        try:
            everyone = {r[0] for r in owner.rows("select distinct tenant_id from mart.stock_metrics")}
        finally:
            owner.close()
        assert {seller.tenant_id, other.tenant_id} <= everyone

        # The bug on purpose: every stock read loses its tenant filter.
        scoped_rows = StockReader._rows

        def unscoped(self: StockReader, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            return scoped_rows(self, sql.replace("tenant_id = :tenant", "true"), params)

        monkeypatch.setattr(StockReader, "_rows", unscoped)
        with StockReader(app_db, seller.tenant_id) as reader:
            assert reader._rows("select distinct tenant_id from mart.stock_metrics", {}) == [
                (seller.tenant_id,)
            ]
            assert reader._rows("select distinct tenant_id from mart.stock_snapshot", {}) == [
                (seller.tenant_id,)
            ]
        listed = products(client, seller)
        assert [(i["product_id"], i["stock"]) for i in listed["items"]] == [(101, 5)]
        assert client.get("/api/v1/products/101", headers=seller.auth).json()["stock"] == 5
        assert client.get("/api/v1/products/777", headers=seller.auth).status_code == 404
        exported = client.get(
            "/api/v1/stock/export",
            params={"format": "csv", "marketplace": "wildberries"},
            headers=seller.auth,
        )
        assert [row[3] for row in csv.reader(io.StringIO(exported.content.decode("utf-8-sig")))][2:] == [
            "101"
        ]


def test_another_tenants_product_is_not_found(
    stock_client: TestClient, stocked: tuple[Seller, Seller]
) -> None:
    seller, other = stocked
    assert products(stock_client, other)["total"] == 2
    mine = stock_client.get("/api/v1/products/101", headers=seller.auth).json()
    assert mine["stock"] == 57  # not the other tenant's 4444
    hidden = stock_client.get("/api/v1/products/777", headers=seller.auth)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "product_not_found"
    assert stock_client.get("/api/v1/products/777", headers=other.auth).status_code == 200


def test_export_is_the_sheet_grid(stock_client: TestClient, stocked: tuple[Seller, Seller]) -> None:
    seller, _ = stocked
    xlsx = stock_client.get("/api/v1/stock/export", params={"format": "xlsx"}, headers=seller.auth)
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="stock.xlsx"' in xlsx.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Wildberries", "Ozon"]
    sheet = book["Wildberries"]
    assert sheet["A1"].value == "Основная информация" and sheet["C2"].value == "Артикул продавца"
    first = [c.value for c in sheet[3]]
    assert first[2:9] == ["ART-101", 101, 3, 1, 15, 57, 26.6]

    needs_one = stock_client.get("/api/v1/stock/export", params={"format": "csv"}, headers=seller.auth)
    assert needs_one.status_code == 422 and needs_one.json()["error"]["code"] == "marketplace_required"
    csv_file = stock_client.get(
        "/api/v1/stock/export",
        params={"format": "csv", "marketplace": "wildberries", "locale": "en"},
        headers=seller.auth,
    )
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert rows[1][:3] == ["Brand", "Subject", "Seller article"]
    assert rows[2][2:9] == ["ART-101", "101", "3", "1", "15", "57", "26.6"]
    assert len(rows) == 2 + 28


def test_no_stock_yet(stock_client: TestClient) -> None:
    fresh = register(stock_client)
    assert products(stock_client, fresh) == {
        "total": 0,
        "page": 1,
        "page_size": 50,
        "pages": 0,
        "items": [],
        "left_out_by_plan": 0,
        "plan_note": None,
    }
    assert stock_client.get("/api/v1/products/1", headers=fresh.auth).status_code == 404
    export = stock_client.get("/api/v1/stock/export", headers=fresh.auth)
    assert export.status_code == 404 and export.json()["error"]["code"] == "no_stock_data"


def test_while_a_sync_writes_the_list_answers_from_the_last_model(
    tmp_path: Path, app_db: str, sandbox: SandboxServer
) -> None:
    settings = make_settings(tmp_path, app_db, sandbox)  # DuckDB: one writer locks the file
    with TestClient(create_app(settings)) as client:
        seller = register(client)
        seed_stock(settings, seller.tenant_id, WB_ROWS)
        assert products(client, seller)["total"] == 28
        path = settings.warehouse_url.removeprefix("duckdb:///").replace("{tenant}", seller.tenant_id)
        writer = subprocess.Popen(
            [sys.executable, "-c", HOLD_WRITE_LOCK, path, seller.tenant_id], stdout=subprocess.PIPE, text=True
        )
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "locked"
            assert products(client, seller)["total"] == 28  # the model before the sync's write
            detail = client.get("/api/v1/products/101", headers=seller.auth)
            assert detail.status_code == 503 and detail.headers["retry-after"] == "2"
            assert detail.json()["error"]["code"] == "warehouse_busy"
        finally:
            writer.kill()
            writer.wait()
        assert products(client, seller)["total"] == 29  # the sync's row, once it let go


HOLD_WRITE_LOCK = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("insert into mart.stock_metrics select * replace (999 as product_id) from mart.stock_metrics "
             "where tenant_id = ? limit 1", [sys.argv[2]])
print("locked", flush=True)
time.sleep(60)
"""

"""`stock-tracker demo` until the orchestration lands: the sandbox in-process, each seller's
marketplace APIs called once with the seller's keys, and what they report printed per seller.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from sandbox.server import SandboxServer


def _wb_summary(urls: dict[str, str], token: str) -> tuple[int, int, int]:
    headers = {"Authorization": token}
    report = urls["wb_analytics"] + "/api/analytics/v1/stocks-report"
    rows: list[dict[str, Any]] = []
    for kind in ("wb-warehouses", "seller-warehouses"):
        answer = requests.post(f"{report}/{kind}", json={}, headers=headers, timeout=60)
        answer.raise_for_status()
        if answer.status_code == 200:
            rows += answer.json()["data"]["items"]
    products = {r["nmId"] for r in rows}
    return len(products), len({r["warehouseName"] for r in rows}), sum(r["quantity"] for r in rows)


def _ozon_summary(urls: dict[str, str], client_id: str, api_key: str) -> tuple[int, int, int]:
    headers = {"Client-Id": client_id, "Api-Key": api_key}
    cursor, products, total, warehouses = "", 0, 0, set()
    while True:
        answer = requests.post(
            urls["ozon"] + "/v4/product/info/stocks",
            headers=headers,
            timeout=60,
            json={"cursor": cursor, "limit": 1000, "filter": {"visibility": "ALL"}},
        )
        answer.raise_for_status()
        page = answer.json()
        for item in page["items"]:
            products += 1
            for stock in item["stocks"]:
                total += stock["present"]
                warehouses.update(stock.get("warehouse_ids") or [])
        cursor = page.get("cursor") or ""
        if not cursor or not page["items"]:
            return products, len(warehouses), total


def run_demo(scenario: dict | None) -> None:
    from sandbox.generate import generate_scenario

    console = Console()
    if scenario is None:
        scenario = generate_scenario(sellers=2, skus=300, warehouses=30, days=30, seed=1)
    table = Table(title="What the marketplaces report (sandbox)")
    for column in ("seller", "marketplace", "products", "warehouses", "stock, units", "seconds"):
        table.add_column(column, justify="left" if column in ("seller", "marketplace") else "right")
    with SandboxServer(scenario) as server:  # type: ignore[arg-type]
        for seller in scenario["sellers"]:
            started = time.perf_counter()
            credentials = seller["credentials"]
            if seller["marketplace"] == "wildberries":
                products, warehouses, stock = _wb_summary(server.urls, credentials["token"])
            else:
                products, warehouses, stock = _ozon_summary(
                    server.urls, credentials["client_id"], credentials["api_key"]
                )
            table.add_row(
                seller["name"],
                seller["marketplace"],
                str(products),
                str(warehouses),
                f"{stock:,}".replace(",", " "),
                f"{time.perf_counter() - started:.2f}",
            )
    console.print(table)

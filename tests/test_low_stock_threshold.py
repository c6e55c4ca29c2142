"""The low-stock highlight as a seller sees it (DESIGN §6: turnover *below* the tenant's threshold is
red), at the boundary: exactly at the threshold stays white, a tenth below turns red — in the XLSX
file and in the published Google Sheet.

Both outputs colour cells through conditional-format rules, so the test evaluates each rule's
formula for each cell as Excel and Sheets do (relative references move with the cell; an Excel
formula engine, `formulas`, computes it) and reads the rule's fill. Whatever spelling a rule has,
only what it paints counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import formulas
import numpy as np
import polars as pl
import pytest
import requests
import schedula
from formulas.tokens.operand import XlError
from openpyxl import load_workbook
from openpyxl.utils.cell import column_index_from_string, get_column_letter, range_boundaries

from resources.sheets import SheetsPublisher
from sandbox.server import SandboxServer
from warehouse.app_db import engine_for, migrate
from warehouse.sheet_files import write_xlsx
from warehouse.sheet_layout import STYLE, SheetGrid, build_grid

THRESHOLD = 14  # days of cover
WINDOW = 7
SA = "stock-tracker@st-prod.iam.gserviceaccount.com"
SCALE = 100.0
# Turnover = stock × 7 ÷ orders, one decimal. One warehouse, so each product's group turnover and
# total turnover are the same number.
PRODUCTS = {
    "AT-THRESHOLD": (28, 14),  # 14.0: not below the threshold
    "JUST-BELOW": (139, 70),  # 13.9
    "JUST-ABOVE": (141, 70),  # 14.1
    "OUT-OF-STOCK": (0, 3),  # 0.0
    "NO-ORDERS": (5, 0),  # empty: nothing to turn over
}
RED = {"JUST-BELOW", "OUT-OF-STOCK"}
Painted = dict[str, set[str]]  # article -> the headers of its red turnover cells


@pytest.fixture(scope="module")
def grid() -> SheetGrid:
    rows = [
        {
            "product_id": 100_000 + i,
            "article": article,
            "brand": "ITS COLLAGEN",
            "subject": "Пищевые добавки",
            "warehouse_name": "Коледино",
            "warehouse_kind": "FBO",
            "stock": stock,
            "in_way_to_client": 0,
            "in_way_from_client": 0,
            "orders": orders,
        }
        for i, (article, (stock, orders)) in enumerate(PRODUCTS.items())
    ]
    built = build_grid(
        pl.DataFrame(rows), marketplace="wildberries", window_days=WINDOW, low_stock_days=THRESHOLD
    )
    turnover = {row[2]: [row[c] for c in built.turnover_columns] for row in built.rows}
    assert turnover["AT-THRESHOLD"] == [14.0, 14.0] and turnover["JUST-BELOW"] == [13.9, 13.9]
    assert turnover["JUST-ABOVE"] == [14.1, 14.1] and turnover["NO-ORDERS"] == [None, None]
    return built


# --- evaluating a conditional format the way a spreadsheet does ---------------------------------

_REFERENCE = re.compile(r"(?<![A-Za-z0-9_.$])(\$?)([A-Z]{1,3})(\$?)([0-9]+)(?![0-9(])")


def _moved(formula: str, rows: int, columns: int) -> str:
    """The formula of a rule anchored at the range's first cell, as it applies `rows` down and
    `columns` right of it: relative references move, `$`-anchored parts stay."""

    def move(match: re.Match[str]) -> str:
        column_fixed, column, row_fixed, row = match.groups()
        new_column = column_index_from_string(column) + (0 if column_fixed else columns)
        new_row = int(row) + (0 if row_fixed else rows)
        return f"{column_fixed}{get_column_letter(new_column)}{row_fixed}{new_row}"

    return _REFERENCE.sub(move, formula)


@cache
def _compiled(formula: str) -> Any:
    return formulas.Parser().ast(formula if formula.startswith("=") else "=" + formula)[1].compile()


def _holds(formula: str, value_at: Callable[[str], Any]) -> bool:
    function = _compiled(formula)
    inputs = []
    for name in function.inputs:
        value = value_at(name.replace("$", "").split("!")[-1])
        inputs.append(schedula.EMPTY if value is None or value == "" else value)
    result = np.asarray(function(*inputs), dtype=object).ravel()[0]
    return not isinstance(result, XlError) and bool(result)  # an error value paints nothing


def painted(
    grid: SheetGrid,
    rules: list[tuple[tuple[int, int, int, int], str, bool]],
    value_at: Callable[[str], Any],
) -> Painted:
    """Red turnover cells per article. `rules`: ((first col, first row, last col, last row) 1-based,
    formula, paints the low-stock fill)."""
    red: Painted = {row[2]: set() for row in grid.rows}  # type: ignore[misc]
    for r, row in enumerate(grid.rows, start=3):
        for c in grid.turnover_columns:
            column = c + 1
            for (first_col, first_row, last_col, last_row), formula, fills_red in rules:
                inside = first_col <= column <= last_col and first_row <= r <= last_row
                if not inside or not fills_red:
                    continue
                if _holds(_moved(formula, r - first_row, column - first_col), value_at):
                    red[row[2]].add(grid.header[c])  # type: ignore[index]
    return red


def assert_red_exactly_below_the_threshold(grid: SheetGrid, red: Painted) -> None:
    totals, group = grid.header[grid.turnover_columns[0]], grid.header[grid.turnover_columns[1]]
    expected = {article: ({totals, group} if article in RED else set()) for article in PRODUCTS}
    wrong = {a: (sorted(red[a]), sorted(expected[a])) for a in PRODUCTS if red[a] != expected[a]}
    assert not wrong, f"(red, expected red) turnover cells at a {THRESHOLD}-day threshold: {wrong}"


# --- the two outputs ------------------------------------------------------------------------------


def _hex(color: dict[str, float]) -> str:
    return "#" + "".join(f"{round(color.get(c, 0.0) * 255):02X}" for c in ("red", "green", "blue"))


def test_xlsx_paints_turnover_red_only_below_the_threshold(grid: SheetGrid, tmp_path: Path) -> None:
    write_xlsx([grid], tmp_path / "stock.xlsx")
    sheet = load_workbook(tmp_path / "stock.xlsx")["Wildberries"]
    rules = []
    for formatting in sheet.conditional_formatting:
        for cells in formatting.sqref.ranges:
            bounds = range_boundaries(cells.coord)
            for rule in formatting.rules:
                fill = rule.dxf.fill if rule.dxf is not None else None
                color = (fill.bgColor.rgb or "") if fill is not None else ""
                fills_red = isinstance(color, str) and color.upper().endswith(STYLE.low_stock_fill[1:])
                for formula in rule.formula or []:
                    rules.append((bounds, formula, fills_red))
    assert rules, "the workbook has low-stock rules"
    red = painted(grid, rules, lambda ref: sheet[ref].value)  # type: ignore[arg-type]
    assert_red_exactly_below_the_threshold(grid, red)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(time_scale=SCALE) as running:
        yield running


def test_google_sheet_paints_turnover_red_only_below_the_threshold(
    grid: SheetGrid, server: SandboxServer, tmp_path: Path
) -> None:
    app_url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(app_url)
    book = {"id": "low-stock", "owner": "seller@example.com", "editors": [SA], "sheets": [{"title": "x"}]}
    requests.post(server.control_url + "/sheets/spreadsheets", json=book, timeout=10).raise_for_status()
    publisher = SheetsPublisher(
        api_url=server.urls["sheets"], service_account_email=SA, app_database_url=app_url, time_scale=SCALE
    )
    try:
        publisher.publish("low-stock", [grid], {})
    finally:
        engine_for(app_url).dispose()

    answer = requests.get(f"{server.control_url}/sheets/spreadsheets/low-stock", timeout=30)
    answer.raise_for_status()
    tab = next(s for s in answer.json()["sheets"] if s["title"] == "Wildberries")
    values: list[list[Any]] = tab["values"]

    def value_at(ref: str) -> Any:
        column, row = re.fullmatch(r"([A-Z]+)([0-9]+)", ref).groups()  # type: ignore[union-attr]
        cells = values[int(row) - 1] if int(row) <= len(values) else []
        index = column_index_from_string(column) - 1
        return cells[index] if index < len(cells) else None

    rules = []
    for rule in tab["conditionalFormats"]:
        condition = rule["booleanRule"]["condition"]
        assert condition["type"] == "CUSTOM_FORMULA"
        background = rule["booleanRule"]["format"].get("backgroundColor", {})
        fills_red = _hex(background) == STYLE.low_stock_fill.upper()
        for area in rule["ranges"]:
            bounds = (
                area["startColumnIndex"] + 1,
                area["startRowIndex"] + 1,
                area["endColumnIndex"],
                area["endRowIndex"],
            )
            rules.append((bounds, condition["values"][0]["userEnteredValue"], fills_red))
    assert rules, "the sheet has low-stock rules"
    assert_red_exactly_below_the_threshold(grid, painted(grid, rules, value_at))

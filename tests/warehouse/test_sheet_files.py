"""The sheet as XLSX and CSV, read back the way a seller's tools would read them."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from tests.warehouse.test_sheet_layout import EXPORT, export_metrics, metric
from warehouse import sheet_files
from warehouse.sheet_files import write_csv, write_xlsx
from warehouse.sheet_layout import STYLE, SheetGrid, build_grid


@pytest.fixture
def wb_grid() -> SheetGrid:
    rows = [
        metric(1, "Коледино", stock=10, orders=3, article="a-1"),
        metric(1, "Казань", stock=0, orders=2, article="a-1"),
        metric(2, "Коледино", stock=5, article="=HYPERLINK(1)"),  # seller text stays text
        metric(2, "Маркетплейс", "FBS", stock=40, orders=1, article="=HYPERLINK(1)"),
        metric(2, "", "TRANSIT", to_client=3, article="=HYPERLINK(1)"),
    ]
    return build_grid(pl.DataFrame(rows), marketplace="wildberries", low_stock_days=10)


@pytest.fixture
def ozon_grid() -> SheetGrid:
    frame = pl.DataFrame([metric(7, "Хоругвино", stock=2, orders=2, marketplace="ozon")])
    return build_grid(frame, marketplace="ozon")


def test_xlsx_has_the_grid_merges_formats_and_panes(
    tmp_path: Path, wb_grid: SheetGrid, ozon_grid: SheetGrid
) -> None:
    path = tmp_path / "stock.xlsx"
    write_xlsx([wb_grid, ozon_grid], path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Wildberries", "Ozon"]
    ws = book["Wildberries"]

    merged = sorted((r.min_row, r.min_col - 1, r.max_row, r.max_col - 1) for r in ws.merged_cells.ranges)
    assert merged == [(1, a, 1, b) for a, b in wb_grid.merges]
    assert [ws.cell(1, c + 1).value for c, _ in wb_grid.merges] == [
        wb_grid.top_header[c] for c, _ in wb_grid.merges
    ]
    assert [ws.cell(2, c + 1).value for c in range(wb_grid.width)] == wb_grid.header

    for r, row in enumerate(wb_grid.rows, start=3):
        read = [ws.cell(r, c + 1).value for c in range(wb_grid.width)]
        assert read == row  # numbers come back as numbers, None as an empty cell
    assert ws.cell(3, 10).value == 0 and isinstance(ws.cell(3, 10).value, int)  # 0 stays 0
    assert ws.cell(3, 3).value == "=HYPERLINK(1)" and ws.cell(3, 3).data_type == "s"

    for r, row in enumerate(wb_grid.rows, start=3):
        for c in wb_grid.count_columns:
            assert ws.cell(r, c + 1).number_format == STYLE.count_format
        for c in wb_grid.turnover_columns:  # an empty cell is not written, so it has no format
            if row[c] is not None:
                assert ws.cell(r, c + 1).number_format == STYLE.turnover_format
    for c in range(wb_grid.width):
        thick = ws.cell(3, c + 1).border.left.style == "thick"
        assert thick == (c in wb_grid.group_starts), c

    assert ws.freeze_panes == "E3"
    header = ws.cell(2, 1)
    assert header.fill.fgColor.rgb == "FF667DEB"
    assert header.font.bold and header.font.color.rgb == "FFFFFFFF" and header.font.sz == 10
    assert header.alignment.horizontal == "center" and header.alignment.wrap_text
    assert ws.row_dimensions[1].height == pytest.approx(35 * 0.75)  # points = px × 3/4
    assert ws.row_dimensions[2].height == pytest.approx(40 * 0.75)

    rules = {str(cf.sqref): cf.rules for cf in ws.conditional_formatting}
    assert len(rules) == len(wb_grid.turnover_columns)
    (rule,) = rules["L3:L4"]
    assert rule.formula == ["AND(ISNUMBER(L3),L3<10)"]
    assert rule.dxf.fill.bgColor.rgb.endswith("F4CCCC")


def test_xlsx_of_an_empty_grid_has_headers_only(tmp_path: Path) -> None:
    grid = build_grid(pl.DataFrame(), marketplace="ozon", locale="en")
    write_xlsx([grid], tmp_path / "empty.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "empty.xlsx")["Ozon"]
    assert ws.max_row == 2 and ws.cell(2, 4).value == "SKU"
    with pytest.raises(ValueError):
        write_xlsx([], tmp_path / "none.xlsx")


def test_xlsx_of_the_real_export(tmp_path: Path) -> None:
    grid = build_grid(export_metrics(EXPORT)[0], marketplace="wildberries")
    write_xlsx([grid], tmp_path / "wb.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "wb.xlsx")["Wildberries"]
    read = [[c.value for c in row] for row in ws.iter_rows(min_row=3, max_col=grid.width)]
    assert read == grid.rows
    assert ws.cell(1, grid.width - 2).value == "Маркетплейс (FBS)"


def test_failed_write_keeps_the_old_file(
    tmp_path: Path, wb_grid: SheetGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stock.xlsx"
    write_xlsx([wb_grid], path)
    before = path.read_bytes()

    def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(sheet_files, "_low_stock_rule", broken)
    with pytest.raises(RuntimeError):
        write_xlsx([wb_grid], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["stock.xlsx"]  # no temporary left behind


def test_csv_has_both_header_rows_and_plain_numbers(tmp_path: Path, wb_grid: SheetGrid) -> None:
    path = tmp_path / "stock.csv"
    write_csv(wb_grid, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to see UTF-8
    with open(path, encoding="utf-8-sig", newline="") as f:
        top, header, *rows = list(csv.reader(f))
    assert top == wb_grid.top_header and header == wb_grid.header
    assert len(rows) == len(wb_grid.rows)
    for read, row in zip(rows, wb_grid.rows, strict=True):
        assert read == ["" if v is None else str(v) for v in row]
    assert "Коледино" in top and "Маркетплейс (FBS)" in top
    assert rows[0][3] == "2" and rows[0][8] == "315.0"  # unformatted: no thousands separator
    assert rows[1][8] == "14.0" and rows[1][11] == "0.0" and rows[1][14] == "23.3"

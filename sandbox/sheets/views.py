"""JSON renderings of the model: the API's spreadsheet resource and the control API's full dump."""

from __future__ import annotations

from typing import Any

from sandbox.sheets.model import Spreadsheet, Worksheet, formatted_value, raw_value


def spreadsheet_resource(book: Spreadsheet, include_grid: bool) -> dict[str, Any]:
    """`GET /v4/spreadsheets/{id}` before the `fields` mask is applied."""
    sheets = []
    for index, sheet in enumerate(book.sheets):
        entry: dict[str, Any] = {"properties": sheet.properties(index)}
        if sheet.merges:
            entry["merges"] = [m.grid_range(sheet.sheet_id) for m in sheet.merges]
        if sheet.rules:
            entry["conditionalFormats"] = list(sheet.rules)
        if include_grid:
            entry["data"] = [_grid_data(sheet)]
        sheets.append(entry)
    return {
        "spreadsheetId": book.id,
        "properties": {
            "title": book.title,
            "locale": "ru_RU",
            "autoRecalc": "ON_CHANGE",
            "timeZone": "Europe/Moscow",
        },
        "sheets": sheets,
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.id}/edit",
    }


def _grid_data(sheet: Worksheet) -> dict[str, Any]:
    rows, cols = sheet.extent()
    row_data = []
    for r in range(rows):
        values = []
        for c in range(cols):
            cell = dict(sheet.cells.get((r, c)) or {})
            shown = formatted_value(cell)
            if shown is not None:
                cell["formattedValue"] = shown
                cell["effectiveValue"] = cell["userEnteredValue"]
            values.append(cell)
        row_data.append({"values": values})
    return {
        "startRow": 0,
        "startColumn": 0,
        "rowData": row_data,
        "rowMetadata": [{"pixelSize": sheet.row_px.get(r, 21)} for r in range(sheet.rows)],
        "columnMetadata": [{"pixelSize": sheet.col_px.get(c, 100)} for c in range(sheet.cols)],
    }


def control_dump(book: Spreadsheet) -> dict[str, Any]:
    """Everything a test may assert on: values, formats, merges, frozen panes, rules, sizes."""
    return {
        "id": book.id,
        "title": book.title,
        "owner": book.owner,
        "editors": sorted(book.editors),
        "viewers": sorted(book.viewers),
        "sheets": [_sheet_dump(sheet, index) for index, sheet in enumerate(book.sheets)],
    }


def _sheet_dump(sheet: Worksheet, index: int) -> dict[str, Any]:
    rows, cols = sheet.extent()
    values: list[list[Any]] = [[None] * cols for _ in range(rows)]
    formats: list[list[Any]] = [[None] * cols for _ in range(rows)]
    for (r, c), cell in sheet.cells.items():
        values[r][c] = raw_value(cell)
        formats[r][c] = cell.get("userEnteredFormat")
    return {
        "sheetId": sheet.sheet_id,
        "title": sheet.title,
        "index": index,
        "hidden": sheet.hidden,
        "rowCount": sheet.rows,
        "columnCount": sheet.cols,
        "frozenRowCount": sheet.frozen_rows,
        "frozenColumnCount": sheet.frozen_cols,
        "values": values,
        "formats": formats,
        "merges": [m.grid_range(sheet.sheet_id) for m in sheet.merges],
        "conditionalFormats": list(sheet.rules),
        "rowHeights": {str(k): v for k, v in sorted(sheet.row_px.items())},
        "columnWidths": {str(k): v for k, v in sorted(sheet.col_px.items())},
    }

"""The values API (`values/{range}`, `values:batchGet`, `values:batchUpdate`, PUT `values/{range}`)."""

from __future__ import annotations

from typing import Any

from sandbox.sheets import cells
from sandbox.sheets.batch import Draft
from sandbox.sheets.model import (
    Spreadsheet,
    Worksheet,
    formatted_value,
    parse_user_entered,
    raw_value,
    user_value,
)
from sandbox.sheets.ranges import (
    Box,
    RangeError,
    check_in_grid,
    column_letters,
    parse_cells,
    quote_title,
    split_a1,
)


def _locate(sheets: list[Worksheet], text: str) -> tuple[Worksheet, Box, bool]:
    """The worksheet and box an A1 range names; `anchored` when it names only a start cell."""
    title, cell_part = split_a1(text)
    sheet = sheets[0] if title is None else next((s for s in sheets if s.title == title), None)
    if sheet is None:
        raise RangeError(f"Unable to parse range: {text}")
    box = parse_cells(cell_part, sheet.rows, sheet.cols)
    return sheet, box, ":" not in cell_part


def _a1(sheet: Worksheet, box: Box) -> str:
    return f"{quote_title(sheet.title)}!{box.a1()}"


def write_values(book: Spreadsheet, data: Any, input_option: Any) -> list[dict[str, Any]]:
    """All ranges or none, as values.batchUpdate is atomic too."""
    if input_option not in ("RAW", "USER_ENTERED"):
        raise RangeError("Invalid valueInputOption: must be RAW or USER_ENTERED")
    if not isinstance(data, list):
        raise RangeError("data must be a list of ValueRanges")
    convert = user_value if input_option == "RAW" else parse_user_entered
    draft = Draft(book)
    responses = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("range"), str):
            raise RangeError("Each ValueRange needs a range")
        located, box, anchored = _locate(draft.sheets, item["range"])
        sheet = draft.sheet(located.sheet_id)
        matrix = item.get("values") or []
        if item.get("majorDimension") == "COLUMNS":
            width = max((len(c) for c in matrix), default=0)
            matrix = [[col[r] if r < len(col) else None for col in matrix] for r in range(width)]
        height, width = len(matrix), max((len(r) for r in matrix), default=0)
        if not height or not width:
            continue
        target = Box(box.row0, box.row0 + height, box.col0, box.col0 + width)
        if not anchored and not box.contains(target):
            over_rows = target.row1 > box.row1
            raise RangeError(
                f"Requested writing within range [{_a1(sheet, box)}], but tried writing to "
                + (f"row [{target.row1}]" if over_rows else f"column [{column_letters(target.col1 - 1)}]")
            )
        check_in_grid(target, sheet.title, sheet.rows, sheet.cols)
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                if value is None:
                    continue  # null leaves the cell as it is
                entered = convert(value)
                new = {"userEnteredValue": entered} if entered else {}
                cells.write(sheet, (target.row0 + i, target.col0 + j), new, [("userEnteredValue",)])
        responses.append(
            {
                "spreadsheetId": book.id,
                "updatedRange": _a1(sheet, target),
                "updatedRows": height,
                "updatedColumns": width,
                "updatedCells": height * width,
            }
        )
    draft.commit()
    return responses


def read_values(book: Spreadsheet, text: str, render: str | None, major: str | None) -> dict[str, Any]:
    sheet, box, _ = _locate(book.sheets, text)
    box = Box(box.row0, min(box.row1, sheet.rows), box.col0, min(box.col1, sheet.cols))
    check_in_grid(box, sheet.title, sheet.rows, sheet.cols)
    show = raw_value if render in ("UNFORMATTED_VALUE", "FORMULA") else formatted_value
    matrix = [
        [show(sheet.cells.get((r, c))) for c in range(box.col0, box.col1)] for r in range(box.row0, box.row1)
    ]
    # Google trims empty trailing rows and cells and writes empty inner cells as "".
    rows = []
    for row in matrix:
        while row and row[-1] is None:
            row.pop()
        rows.append(["" if v is None else v for v in row])
    while rows and not rows[-1]:
        rows.pop()
    answer: dict[str, Any] = {"range": _a1(sheet, box), "majorDimension": major or "ROWS"}
    if major == "COLUMNS" and rows:
        width = max(len(r) for r in rows)
        rows = [[r[c] if c < len(r) else "" for r in rows] for c in range(width)]
    if rows:
        answer["values"] = rows
    return answer

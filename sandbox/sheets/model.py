"""The in-memory spreadsheets: worksheets of sparse CellData, merges, frozen panes, rules.

A cell is Google's CellData JSON (`userEnteredValue`, `userEnteredFormat`, …) kept as a dict that
is never mutated in place, so a batch can work on shallow copies and be dropped on any error
(batchUpdate is all-or-nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.sheets.ranges import Box

DEFAULT_ROWS, DEFAULT_COLS = 1000, 26  # a new tab, as Google makes it
MAX_CELLS = 10_000_000  # per spreadsheet
CELL_FIELDS = ("userEnteredValue", "userEnteredFormat", "note", "hyperlink", "dataValidation")

Cell = dict[str, Any]


@dataclass
class Worksheet:
    sheet_id: int
    title: str
    rows: int = DEFAULT_ROWS
    cols: int = DEFAULT_COLS
    frozen_rows: int = 0
    frozen_cols: int = 0
    hidden: bool = False
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)
    merges: list[Box] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)  # conditional format rules, in order
    row_px: dict[int, int] = field(default_factory=dict)
    col_px: dict[int, int] = field(default_factory=dict)

    def clone(self) -> Worksheet:
        return replace(
            self,
            cells=dict(self.cells),
            merges=list(self.merges),
            rules=list(self.rules),
            row_px=dict(self.row_px),
            col_px=dict(self.col_px),
        )

    def resize(self, rows: int, cols: int) -> None:
        """Shrinking drops everything beyond the new edge, as deleting rows/columns does."""
        if rows < self.rows or cols < self.cols:
            self.cells = {k: v for k, v in self.cells.items() if k[0] < rows and k[1] < cols}
            self.merges = [
                trimmed
                for m in self.merges
                if m.row0 < rows and m.col0 < cols
                for trimmed in [Box(m.row0, min(m.row1, rows), m.col0, min(m.col1, cols))]
                if trimmed.cells() > 1
            ]
            self.row_px = {k: v for k, v in self.row_px.items() if k < rows}
            self.col_px = {k: v for k, v in self.col_px.items() if k < cols}
        self.rows, self.cols = rows, cols

    def grid_properties(self) -> dict[str, int]:
        props = {"rowCount": self.rows, "columnCount": self.cols}
        # Google leaves zero frozen counts out of the answer.
        if self.frozen_rows:
            props["frozenRowCount"] = self.frozen_rows
        if self.frozen_cols:
            props["frozenColumnCount"] = self.frozen_cols
        return props

    def properties(self, index: int) -> dict[str, Any]:
        props: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": self.grid_properties(),
        }
        if self.hidden:
            props["hidden"] = True
        return props

    def extent(self, key: str | None = None) -> tuple[int, int]:
        """Rows and columns up to the last cell holding `key` (any content when None)."""
        rows = cols = 0
        for (r, c), cell in self.cells.items():
            if key is None or key in cell:
                rows, cols = max(rows, r + 1), max(cols, c + 1)
        return rows, cols


@dataclass
class Spreadsheet:
    id: str
    title: str
    owner: str
    editors: set[str] = field(default_factory=set)
    viewers: set[str] = field(default_factory=set)
    sheets: list[Worksheet] = field(default_factory=list)

    def can_read(self, who: str) -> bool:
        return who == self.owner or who in self.editors or who in self.viewers

    def can_write(self, who: str) -> bool:
        return who == self.owner or who in self.editors

    def sheet(self, sheet_id: int) -> Worksheet | None:
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)

    def by_title(self, title: str) -> Worksheet | None:
        return next((s for s in self.sheets if s.title == title), None)

    def total_cells(self) -> int:
        return sum(s.rows * s.cols for s in self.sheets)


# --- values ---------------------------------------------------------------------------------------


def user_value(value: Any) -> dict[str, Any] | None:
    """A JSON scalar as a userEnteredValue (RAW input)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int | float):
        return {"numberValue": value} if math.isfinite(value) else None
    return {"stringValue": str(value)}


def parse_user_entered(value: Any) -> dict[str, Any] | None:
    """USER_ENTERED input: numeric-looking text becomes a number, as the Sheets UI does."""
    if isinstance(value, str) and value.startswith("="):
        return {"formulaValue": value}
    if isinstance(value, str):
        stripped = value.strip().replace(",", "")
        try:
            number = float(stripped)
        except ValueError:
            return user_value(value)
        if math.isfinite(number):
            return {"numberValue": int(number) if number.is_integer() and "." not in stripped else number}
    return user_value(value)


def raw_value(cell: Cell | None) -> Any:
    """The cell's entered value as a plain JSON scalar (None when empty)."""
    entered = (cell or {}).get("userEnteredValue")
    if not entered:
        return None
    return next(iter(entered.values()))


def formatted_value(cell: Cell | None) -> str | None:
    """How the cell reads on screen, for the patterns the product uses (`#,##0`, `0.0`)."""
    value = raw_value(cell)
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        pattern = (((cell or {}).get("userEnteredFormat") or {}).get("numberFormat") or {}).get("pattern")
        if pattern == "#,##0":
            return f"{value:,.0f}"
        if pattern == "0.0":
            return f"{value:.1f}"
        if pattern == "0":
            return f"{value:.0f}"
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def sheet_from_rows(sheet_id: int, title: str, rows: list[list[Any]]) -> Worksheet:
    width = max((len(r) for r in rows), default=0)
    sheet = Worksheet(sheet_id, title, max(DEFAULT_ROWS, len(rows)), max(DEFAULT_COLS, width))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            entered = user_value(value)
            if entered is not None:
                sheet.cells[(r, c)] = {"userEnteredValue": entered}
    return sheet


def build_spreadsheet(spec: dict[str, Any]) -> Spreadsheet:
    """A spreadsheet from the scenario's / control API's JSON (see sandbox/scenario.py)."""
    editors = {str(e) for e in spec.get("editors") or []}
    owner = str(spec.get("owner") or "owner@example.com")
    book = Spreadsheet(
        id=str(spec["id"]),
        title=str(spec.get("title") or "Untitled spreadsheet"),
        owner=owner,
        editors=editors,
        viewers={str(v) for v in spec.get("viewers") or []},
    )
    tabs = spec.get("sheets") or [{"title": "Sheet1"}]
    for index, tab in enumerate(tabs):
        book.sheets.append(sheet_from_rows(index, str(tab["title"]), tab.get("rows") or []))
    return book


@dataclass
class SheetsStore:
    """All spreadsheets of the running sandbox, by id."""

    books: dict[str, Spreadsheet] = field(default_factory=dict)

    @classmethod
    def from_scenario(cls, scenario: Any) -> SheetsStore:
        store = cls()
        for spec in (scenario or {}).get("spreadsheets") or []:
            store.add(build_spreadsheet(spec))
        return store

    def add(self, book: Spreadsheet) -> Spreadsheet:
        self.books[book.id] = book
        return book

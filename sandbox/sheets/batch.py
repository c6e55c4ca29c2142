"""`spreadsheets.batchUpdate`: every request applied to a draft, committed only if all succeed.

Each handler raises RangeError with Google's wording; the runner prefixes `Invalid
requests[i].<kind>:` as Google does and drops the draft, so a bad request changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sandbox.sheets import cells
from sandbox.sheets.model import DEFAULT_COLS, DEFAULT_ROWS, MAX_CELLS, Spreadsheet, Worksheet
from sandbox.sheets.ranges import Box, RangeError, check_in_grid, grid_box, mask_paths


class BatchError(ValueError):
    """The whole batch is refused (HTTP 400 INVALID_ARGUMENT); nothing was applied."""


class Draft:
    """The spreadsheet's worksheets as the batch sees them; touched sheets are copies."""

    def __init__(self, book: Spreadsheet) -> None:
        self.book = book
        self.sheets = list(book.sheets)
        self._owned: set[int] = set()
        self._start_cells = book.total_cells()

    def sheet(self, sheet_id: Any) -> Worksheet:
        if not isinstance(sheet_id, int):
            raise RangeError(f"Invalid sheetId: {sheet_id!r}")
        for i, sheet in enumerate(self.sheets):
            if sheet.sheet_id == sheet_id:
                if sheet_id not in self._owned:
                    sheet = self.sheets[i] = sheet.clone()
                    self._owned.add(sheet_id)
                return sheet
        raise RangeError(f"No grid with id: {sheet_id}")

    def add(self, sheet: Worksheet, index: int) -> None:
        self.sheets.insert(index, sheet)
        self._owned.add(sheet.sheet_id)

    def check(self) -> None:
        total = sum(s.rows * s.cols for s in self.sheets)
        if total > MAX_CELLS and total > self._start_cells:
            raise RangeError(
                f"This action would increase the number of cells in the workbook above the limit "
                f"of {MAX_CELLS} cells."
            )
        if not self.sheets:
            raise RangeError("You can't remove all the sheets in a document.")
        if all(s.hidden for s in self.sheets):
            raise RangeError("You can't hide all the sheets in a document.")

    def commit(self) -> None:
        self.book.sheets = self.sheets


def _range(draft: Draft, grid_range: Any) -> tuple[Worksheet, Box]:
    if not isinstance(grid_range, dict):
        raise RangeError("range is required")
    sheet = draft.sheet(grid_range.get("sheetId", 0))
    box = grid_box(grid_range, sheet.rows, sheet.cols)
    check_in_grid(box, sheet.title, sheet.rows, sheet.cols)
    return sheet, box


def _check_frozen(sheet: Worksheet) -> None:
    if sheet.frozen_rows >= sheet.rows:
        raise RangeError("You can't freeze all visible rows on the sheet.")
    if sheet.frozen_cols >= sheet.cols:
        raise RangeError("You can't freeze all visible columns on the sheet.")
    for m in sheet.merges:
        if m.row0 < sheet.frozen_rows < m.row1:
            raise RangeError("You can't freeze rows which contain only part of a merged cell.")
        if m.col0 < sheet.frozen_cols < m.col1:
            raise RangeError("You can't freeze columns which contain only part of a merged cell.")


def _count(value: Any, name: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise RangeError(f"Invalid {name}: {value!r}")
    return value


# --- sheets ---------------------------------------------------------------------------------------


def add_sheet(draft: Draft, body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties") or {}
    taken = {s.sheet_id for s in draft.sheets}
    sheet_id = props.get("sheetId")
    if sheet_id is None:
        sheet_id = random.randrange(1, 2**31 - 1)
        while sheet_id in taken:
            sheet_id = random.randrange(1, 2**31 - 1)
    elif _count(sheet_id, "sheetId") in taken:
        raise RangeError(f"A sheet with the id {sheet_id} already exists.")
    title = props.get("title")
    if title is None:
        n = len(draft.sheets) + 1
        while any(s.title == f"Sheet{n}" for s in draft.sheets):
            n += 1
        title = f"Sheet{n}"
    _check_title(draft, str(title), None)
    grid = props.get("gridProperties") or {}
    sheet = Worksheet(
        sheet_id,
        str(title),
        _count(grid.get("rowCount", DEFAULT_ROWS), "rowCount", 1),
        _count(grid.get("columnCount", DEFAULT_COLS), "columnCount", 1),
        _count(grid.get("frozenRowCount") or 0, "frozenRowCount"),
        _count(grid.get("frozenColumnCount") or 0, "frozenColumnCount"),
        bool(props.get("hidden", False)),
    )
    _check_frozen(sheet)
    index = min(_count(props.get("index", len(draft.sheets)), "index"), len(draft.sheets))
    draft.add(sheet, index)
    return {"addSheet": {"properties": sheet.properties(index)}}


def _check_title(draft: Draft, title: str, sheet_id: int | None) -> None:
    if not title.strip():
        raise RangeError("A sheet name can't be empty.")
    if any(s.title.lower() == title.lower() and s.sheet_id != sheet_id for s in draft.sheets):
        raise RangeError(f'A sheet with the name "{title}" already exists. Please enter another name.')


def delete_sheet(draft: Draft, body: dict[str, Any]) -> None:
    sheet = draft.sheet(body.get("sheetId"))
    draft.sheets.remove(sheet)


GRID_KEYS = ("rowCount", "columnCount", "frozenRowCount", "frozenColumnCount")
IGNORED_PROPERTIES = ("tabColor", "tabColorStyle", "rightToLeft", "gridProperties.hideGridlines")


def update_sheet_properties(draft: Draft, body: dict[str, Any]) -> None:
    props = body.get("properties") or {}
    sheet = draft.sheet(props.get("sheetId", 0))
    fields = body.get("fields")
    if not isinstance(fields, str) or not fields:
        raise RangeError("At least one field must be specified in 'fields'.")
    paths = [".".join(p) for p in mask_paths(fields)]
    if "*" in paths:
        paths = [k for k in ("title", "index", "hidden") if k in props] + ["gridProperties"]
    if "gridProperties" in paths:
        paths = [p for p in paths if p != "gridProperties"] + [f"gridProperties.{k}" for k in GRID_KEYS]
    grid = props.get("gridProperties") or {}
    size = {"rowCount": sheet.rows, "columnCount": sheet.cols}
    for path in paths:
        if path == "title":
            _check_title(draft, str(props.get("title") or ""), sheet.sheet_id)
            sheet.title = str(props["title"])
        elif path == "hidden":
            sheet.hidden = bool(props.get("hidden"))
        elif path == "index":
            index = min(_count(props.get("index", 0), "index"), len(draft.sheets) - 1)
            draft.sheets.remove(sheet)
            draft.sheets.insert(index, sheet)
        elif path in ("gridProperties.rowCount", "gridProperties.columnCount"):
            key = path.split(".")[1]
            size[key] = _count(grid.get(key), key, 1)
        elif path == "gridProperties.frozenRowCount":
            sheet.frozen_rows = _count(grid.get("frozenRowCount") or 0, "frozenRowCount")
        elif path == "gridProperties.frozenColumnCount":
            sheet.frozen_cols = _count(grid.get("frozenColumnCount") or 0, "frozenColumnCount")
        elif path not in IGNORED_PROPERTIES:
            raise RangeError(f"Invalid field in 'fields': {path}")
    sheet.resize(size["rowCount"], size["columnCount"])
    _check_frozen(sheet)


# --- dimensions -----------------------------------------------------------------------------------


def _dimension(draft: Draft, dim_range: Any, inserting: bool = False) -> tuple[Worksheet, bool, int, int]:
    if not isinstance(dim_range, dict):
        raise RangeError("range is required")
    sheet = draft.sheet(dim_range.get("sheetId", 0))
    dimension = dim_range.get("dimension")
    if dimension not in ("ROWS", "COLUMNS"):
        raise RangeError(f"Invalid dimension: {dimension!r}")
    rows = dimension == "ROWS"
    limit = sheet.rows if rows else sheet.cols
    start = _count(dim_range.get("startIndex", 0), "startIndex")
    end = _count(dim_range.get("endIndex", limit), "endIndex")
    if start >= end:
        raise RangeError(f"Invalid range: startIndex {start} must be less than endIndex {end}")
    if inserting and start > limit:
        raise RangeError(f"Invalid startIndex {start}: the sheet has {limit} {dimension.lower()}")
    if not inserting and end > limit:
        check_in_grid(
            Box(start, end, 0, 1) if rows else Box(0, 1, start, end), sheet.title, sheet.rows, sheet.cols
        )
    return sheet, rows, start, end


def update_dimension_properties(draft: Draft, body: dict[str, Any]) -> None:
    sheet, rows, start, end = _dimension(draft, body.get("range"))
    fields = [".".join(p) for p in mask_paths(str(body.get("fields") or ""))] if body.get("fields") else []
    if not fields:
        raise RangeError("At least one field must be specified in 'fields'.")
    props = body.get("properties") or {}
    if "pixelSize" in fields or "*" in fields:
        size = _count(props.get("pixelSize"), "pixelSize")
        sizes = sheet.row_px if rows else sheet.col_px
        for i in range(start, end):
            sizes[i] = size


def append_dimension(draft: Draft, body: dict[str, Any]) -> None:
    sheet = draft.sheet(body.get("sheetId", 0))
    length = _count(body.get("length"), "length", 1)
    if body.get("dimension") == "ROWS":
        sheet.resize(sheet.rows + length, sheet.cols)
    elif body.get("dimension") == "COLUMNS":
        sheet.resize(sheet.rows, sheet.cols + length)
    else:
        raise RangeError(f"Invalid dimension: {body.get('dimension')!r}")


def _shift(sheet: Worksheet, rows: bool, at: int, delta: int) -> None:
    """Move everything at or after `at` by `delta` along one axis (insert > 0, delete < 0)."""
    axis = 0 if rows else 1
    gone_end = at - delta if delta < 0 else at  # deleted span is [at, at - delta)

    def moved(i: int) -> int | None:
        if i < at:
            return i
        if delta < 0 and i < gone_end:
            return None
        return i + delta

    new_cells = {}
    for key, cell in sheet.cells.items():
        i = moved(key[axis])
        if i is not None:
            new_cells[(i, key[1]) if rows else (key[0], i)] = cell
    sheet.cells = new_cells

    def edge(b: int) -> int:
        # Where a boundary between cells lands: a merge spanning an insert grows, one spanning
        # a delete shrinks.
        if delta > 0:
            return b + delta if b > at else b
        return b if b <= at else (at if b <= gone_end else b + delta)

    merges = []
    for m in sheet.merges:
        lo, hi = (m.row0, m.row1) if rows else (m.col0, m.col1)
        lo, hi = (lo + delta, hi + delta) if delta > 0 and lo >= at else (edge(lo), edge(hi))
        box = Box(lo, hi, m.col0, m.col1) if rows else Box(m.row0, m.row1, lo, hi)
        if box.cells() > 1:
            merges.append(box)
    sheet.merges = merges
    sizes = sheet.row_px if rows else sheet.col_px
    shifted = {moved(i): v for i, v in sizes.items()}
    sizes.clear()
    sizes.update({i: v for i, v in shifted.items() if i is not None})
    if rows:
        sheet.rows += delta
    else:
        sheet.cols += delta


def insert_dimension(draft: Draft, body: dict[str, Any]) -> None:
    sheet, rows, start, end = _dimension(draft, body.get("range"), inserting=True)
    _shift(sheet, rows, start, end - start)


def delete_dimension(draft: Draft, body: dict[str, Any]) -> None:
    sheet, rows, start, end = _dimension(draft, body.get("range"))
    if end - start >= (sheet.rows if rows else sheet.cols):
        raise RangeError(f"You can't delete all the {'rows' if rows else 'columns'} on the sheet.")
    _shift(sheet, rows, start, start - end)


# --- cells ----------------------------------------------------------------------------------------


def update_cells(draft: Draft, body: dict[str, Any]) -> None:
    paths = cells.cell_paths(body.get("fields"))
    rows = body.get("rows") or []
    if not isinstance(rows, list):
        raise RangeError("rows must be a list")
    data = [[cells.check_cell(c) for c in (row or {}).get("values") or []] for row in rows]
    height, width = len(data), max((len(r) for r in data), default=0)
    if ("start" in body) == ("range" in body):
        raise RangeError("Exactly one of 'start' or 'range' must be set.")
    if "start" in body:
        start = body["start"] or {}
        sheet = draft.sheet(start.get("sheetId", 0))
        r0, c0 = (
            _count(start.get("rowIndex", 0), "rowIndex"),
            _count(start.get("columnIndex", 0), "columnIndex"),
        )
        box = Box(r0, r0 + height, c0, c0 + width)
        if height and width:
            check_in_grid(box, sheet.title, sheet.rows, sheet.cols)
    else:
        sheet, box = _range(draft, body["range"])
        if height > box.row1 - box.row0 or width > box.col1 - box.col0:
            raise RangeError("The data given is larger than the range it is written to.")
    cells.write_rows(sheet, box.row0, box.col0, data, paths)
    if "range" in body:
        # Cells of the range the rows do not reach are cleared for the masked fields.
        for key in cells.keys_in(sheet, box):
            i, j = key[0] - box.row0, key[1] - box.col0
            if i >= len(data) or j >= len(data[i]):
                cells.write(sheet, key, {}, paths)


def repeat_cell(draft: Draft, body: dict[str, Any]) -> None:
    paths = cells.cell_paths(body.get("fields"))
    sheet, box = _range(draft, body.get("range"))
    cells.fill(sheet, box, cells.check_cell(body.get("cell") or {}), paths)


def merge_cells(draft: Draft, body: dict[str, Any]) -> None:
    sheet, box = _range(draft, body.get("range"))
    kind = body.get("mergeType", "MERGE_ALL")
    if kind == "MERGE_ALL":
        pieces = [box]
    elif kind == "MERGE_COLUMNS":
        pieces = [Box(box.row0, box.row1, c, c + 1) for c in range(box.col0, box.col1)]
    elif kind == "MERGE_ROWS":
        pieces = [Box(r, r + 1, box.col0, box.col1) for r in range(box.row0, box.row1)]
    else:
        raise RangeError(f"Invalid mergeType: {kind!r}")
    for piece in pieces:
        if piece.cells() < 2:
            continue
        if piece.row0 < sheet.frozen_rows < piece.row1:
            raise RangeError("You can't merge frozen and non-frozen rows.")
        if piece.col0 < sheet.frozen_cols < piece.col1:
            raise RangeError("You can't merge frozen and non-frozen columns.")
        for m in [m for m in sheet.merges if m.intersects(piece)]:
            if not piece.contains(m):
                raise RangeError("You must select all cells in a merged range to merge or unmerge them.")
            sheet.merges.remove(m)
        # A merged range keeps only its top-left value.
        for key in cells.keys_in(sheet, piece):
            if key != (piece.row0, piece.col0):
                cells.write(sheet, key, {}, [("userEnteredValue",)])
        sheet.merges.append(piece)


def unmerge_cells(draft: Draft, body: dict[str, Any]) -> None:
    sheet, box = _range(draft, body.get("range"))
    for m in [m for m in sheet.merges if m.intersects(box)]:
        if not box.contains(m):
            raise RangeError("You must select all cells in a merged range to merge or unmerge them.")
        sheet.merges.remove(m)


def update_borders(draft: Draft, body: dict[str, Any]) -> None:
    sheet, box = _range(draft, body.get("range"))
    sides: list[tuple[str, str, Box]] = [
        ("top", "top", Box(box.row0, box.row0 + 1, box.col0, box.col1)),
        ("bottom", "bottom", Box(box.row1 - 1, box.row1, box.col0, box.col1)),
        ("left", "left", Box(box.row0, box.row1, box.col0, box.col0 + 1)),
        ("right", "right", Box(box.row0, box.row1, box.col1 - 1, box.col1)),
        ("innerHorizontal", "top", Box(box.row0 + 1, box.row1, box.col0, box.col1)),
        ("innerVertical", "left", Box(box.row0, box.row1, box.col0 + 1, box.col1)),
    ]
    for key, side, area in sides:
        border = body.get(key)
        if border is None or area.cells() == 0:
            continue
        if not isinstance(border, dict):
            raise RangeError(f"Invalid {key} border")
        value = None if border.get("style") == "NONE" else border
        cells.fill(
            sheet,
            area,
            {"userEnteredFormat": {"borders": {side: value}}},
            [("userEnteredFormat", "borders", side)],
        )


# --- conditional formats --------------------------------------------------------------------------


def _rule(draft: Draft, rule: Any) -> tuple[Worksheet, dict[str, Any]]:
    if not isinstance(rule, dict) or not ("booleanRule" in rule or "gradientRule" in rule):
        raise RangeError("A rule needs a booleanRule or a gradientRule.")
    ranges = rule.get("ranges")
    if not isinstance(ranges, list) or not ranges:
        raise RangeError("A conditional format rule needs at least one range.")
    sheet_ids = {r.get("sheetId", 0) for r in ranges if isinstance(r, dict)}
    if len(sheet_ids) != 1 or len(ranges) != len([r for r in ranges if isinstance(r, dict)]):
        raise RangeError("All ranges of a conditional format rule must be on the same sheet.")
    sheet = draft.sheet(sheet_ids.pop())
    for r in ranges:
        _range(draft, r)
    return sheet, rule


def add_conditional_format_rule(draft: Draft, body: dict[str, Any]) -> None:
    sheet, rule = _rule(draft, body.get("rule"))
    index = _count(body.get("index", 0), "index")
    if index > len(sheet.rules):
        raise RangeError(f"Invalid index {index}: the sheet has {len(sheet.rules)} rules.")
    sheet.rules.insert(index, rule)


def _rule_index(sheet: Worksheet, value: Any) -> int:
    index = _count(value, "index")
    if index >= len(sheet.rules):
        raise RangeError(f"No conditional format on sheet {sheet.sheet_id} at index {index}")
    return index


def delete_conditional_format_rule(draft: Draft, body: dict[str, Any]) -> dict[str, Any]:
    sheet = draft.sheet(body.get("sheetId", 0))
    rule = sheet.rules.pop(_rule_index(sheet, body.get("index")))
    return {"deleteConditionalFormatRule": {"rule": rule}}


def update_conditional_format_rule(draft: Draft, body: dict[str, Any]) -> dict[str, Any]:
    sheet = draft.sheet(body.get("sheetId", 0))
    index = _rule_index(sheet, body.get("index"))
    old = sheet.rules[index]
    if "rule" in body:
        target, rule = _rule(draft, body["rule"])
        if target is not sheet:
            raise RangeError("A rule cannot move to another sheet.")
        sheet.rules[index] = rule
    else:
        sheet.rules.insert(
            min(_count(body.get("newIndex"), "newIndex"), len(sheet.rules)), sheet.rules.pop(index)
        )
    return {"updateConditionalFormatRule": {"oldRule": old, "oldIndex": index, "newRule": sheet.rules[index]}}


HANDLERS: dict[str, Callable[[Draft, dict[str, Any]], dict[str, Any] | None]] = {
    "addSheet": add_sheet,
    "deleteSheet": delete_sheet,
    "updateSheetProperties": update_sheet_properties,
    "updateDimensionProperties": update_dimension_properties,
    "appendDimension": append_dimension,
    "insertDimension": insert_dimension,
    "deleteDimension": delete_dimension,
    "updateCells": update_cells,
    "repeatCell": repeat_cell,
    "mergeCells": merge_cells,
    "unmergeCells": unmerge_cells,
    "updateBorders": update_borders,
    "addConditionalFormatRule": add_conditional_format_rule,
    "deleteConditionalFormatRule": delete_conditional_format_rule,
    "updateConditionalFormatRule": update_conditional_format_rule,
}


def apply_batch(book: Spreadsheet, requests: Any) -> list[dict[str, Any]]:
    """Apply all requests or none; the replies, one per request, as Google returns them."""
    if not isinstance(requests, list) or not requests:
        raise BatchError("Invalid requests: must specify at least one request.")
    draft = Draft(book)
    replies = []
    for i, request in enumerate(requests):
        if not isinstance(request, dict) or len([v for v in request.values() if v is not None]) != 1:
            raise BatchError(f"Invalid requests[{i}]: exactly one kind of request must be set.")
        kind, body = next((k, v) for k, v in request.items() if v is not None)
        handler = HANDLERS.get(kind)
        if handler is None:
            raise BatchError(
                f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]': "
                "Cannot find field."
            )
        try:
            if not isinstance(body, dict):
                raise RangeError("expected an object")
            reply = handler(draft, body)
            draft.check()
        except RangeError as exc:
            raise BatchError(f"Invalid requests[{i}].{kind}: {exc}") from None
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            # A malformed body is the caller's error (400), never a sandbox crash (500).
            raise BatchError(f"Invalid requests[{i}].{kind}: malformed request ({exc})") from None
        replies.append(reply or {})
    draft.commit()
    return replies

"""Writing CellData through a field mask, copy-on-write (cells are shared with the committed state)."""

from __future__ import annotations

from typing import Any

from sandbox.sheets.model import CELL_FIELDS, Cell, Worksheet
from sandbox.sheets.ranges import Box, RangeError, mask_paths

_MISSING = object()
_VALUE_KINDS = ("numberValue", "stringValue", "boolValue", "formulaValue", "errorValue")

Path = tuple[str, ...]


def cell_paths(fields: Any) -> list[Path]:
    if not isinstance(fields, str) or not fields.strip():
        raise RangeError("At least one field must be specified in 'fields'.")
    paths = mask_paths(fields)
    if ("*",) in paths:
        return [(name,) for name in CELL_FIELDS]
    return paths


def check_cell(cell: Any) -> Cell:
    if not isinstance(cell, dict):
        raise RangeError("Invalid value: a cell must be a CellData object")
    entered = cell.get("userEnteredValue")
    if entered is not None:
        kinds = [k for k in _VALUE_KINDS if entered.get(k) is not None] if isinstance(entered, dict) else []
        if len(kinds) != 1 or set(entered) - set(_VALUE_KINDS):
            raise RangeError(f"Invalid value at 'userEnteredValue': {entered!r}")
        number = entered.get("numberValue")
        if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
            raise RangeError(f"Invalid value at 'userEnteredValue.numberValue' ({number!r})")
    return {k: v for k, v in cell.items() if v is not None}


def _get(source: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(source, dict) or part not in source:
            return _MISSING
        source = source[part]
    return source


def _put(target: dict[str, Any], path: Path, value: Any) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        if value is _MISSING or value is None:
            target.pop(head, None)
        else:
            target[head] = value
        return
    child = dict(target.get(head) or {})
    _put(child, rest, value)
    if child:
        target[head] = child
    else:
        target.pop(head, None)


def masked(old: Cell | None, new: Cell, paths: list[Path]) -> Cell:
    """`old` with every masked path taken from `new` (absent in `new` means cleared)."""
    result = dict(old) if old else {}
    for path in paths:
        _put(result, path, _get(new, path))
    return result


def write(sheet: Worksheet, key: tuple[int, int], new: Cell, paths: list[Path]) -> None:
    merged = masked(sheet.cells.get(key), new, paths)
    if merged:
        sheet.cells[key] = merged
    else:
        sheet.cells.pop(key, None)


def fill(sheet: Worksheet, box: Box, new: Cell, paths: list[Path]) -> None:
    """Apply one CellData to every cell of `box` (repeatCell; also clearing)."""
    if all(_get(new, p) is _MISSING for p in paths):
        # Pure clearing only touches cells that hold something: O(filled), not O(area).
        keys = [k for k in sheet.cells if box.row0 <= k[0] < box.row1 and box.col0 <= k[1] < box.col1]
    else:
        keys = [(r, c) for r in range(box.row0, box.row1) for c in range(box.col0, box.col1)]
    for key in keys:
        write(sheet, key, new, paths)

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
    """The CellData as stored (nulls dropped); refuses values Google would refuse."""
    if type(cell) is not dict:
        raise RangeError("Invalid value: a cell must be a CellData object")
    entered = cell.get("userEnteredValue")
    if entered is not None:
        if type(entered) is not dict or len(entered) != 1:
            raise RangeError(f"Invalid value at 'userEnteredValue': {entered!r}")
        ((kind, value),) = entered.items()
        if kind not in _VALUE_KINDS or value is None:
            raise RangeError(f"Invalid value at 'userEnteredValue': {entered!r}")
        if kind == "numberValue" and (type(value) is bool or not isinstance(value, int | float)):
            raise RangeError(f"Invalid value at 'userEnteredValue.numberValue' ({value!r})")
    # Cells are never mutated in place, so the parsed dict itself can be kept.
    return cell if None not in cell.values() else {k: v for k, v in cell.items() if v is not None}


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


Picked = list[tuple[Path, Any]]  # each masked path with the value `new` gives it (or _MISSING)


def pick(new: Cell, paths: list[Path]) -> Picked:
    return [(path, new.get(path[0], _MISSING) if len(path) == 1 else _get(new, path)) for path in paths]


def masked(old: Cell | None, picked: Picked) -> Cell:
    """`old` with every masked path set from `picked` (a missing value clears the path)."""
    result = dict(old) if old else {}
    for path, value in picked:
        if len(path) == 1:  # the common case (`userEnteredValue`), without the generic walk
            if value is _MISSING or value is None:
                result.pop(path[0], None)
            else:
                result[path[0]] = value
        elif len(path) == 2:  # `userEnteredFormat.numberFormat`, `….borders`: one copy, no recursion
            outer, inner = path
            child = dict(result.get(outer) or {})
            if value is _MISSING or value is None:
                child.pop(inner, None)
            else:
                child[inner] = value
            if child:
                result[outer] = child
            else:
                result.pop(outer, None)
        else:
            _put(result, path, value)
    return result


def write(sheet: Worksheet, key: tuple[int, int], new: Cell, paths: list[Path]) -> None:
    store(sheet, key, pick(new, paths))


def store(sheet: Worksheet, key: tuple[int, int], picked: Picked) -> None:
    merged = masked(sheet.cells.get(key), picked)
    if merged:
        sheet.cells[key] = merged
    else:
        sheet.cells.pop(key, None)


def write_rows(sheet: Worksheet, row0: int, col0: int, rows: list[list[Cell]], paths: list[Path]) -> None:
    """updateCells' rows from (row0, col0); top-level masks (the usual case) take a fast path."""
    if any(len(p) != 1 for p in paths):
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                write(sheet, (row0 + i, col0 + j), cell, paths)
        return
    names = [p[0] for p in paths]
    allowed = set(names)
    filled = sheet.cells
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            key = (row0 + i, col0 + j)
            old = filled.get(key)
            if old is None and cell.keys() <= allowed:
                merged = cell  # checked cells hold no nulls and are never mutated: share it
            else:
                merged = dict(old) if old else {}
                for name in names:
                    value = cell.get(name)
                    if value is None:
                        merged.pop(name, None)
                    else:
                        merged[name] = value
            if merged:
                filled[key] = merged
            else:
                filled.pop(key, None)


def keys_in(sheet: Worksheet, box: Box) -> list[tuple[int, int]]:
    """The filled cells of `box`, walking whichever is smaller: the box or the filled cells."""
    filled = sheet.cells
    if box.cells() < len(filled):
        return [
            (r, c) for r in range(box.row0, box.row1) for c in range(box.col0, box.col1) if (r, c) in filled
        ]
    return [k for k in filled if box.row0 <= k[0] < box.row1 and box.col0 <= k[1] < box.col1]


def fill(sheet: Worksheet, box: Box, new: Cell, paths: list[Path]) -> None:
    """Apply one CellData to every cell of `box` (repeatCell; also clearing)."""
    picked = pick(new, paths)  # one value for the whole box
    if all(value is _MISSING for _, value in picked):
        keys = keys_in(sheet, box)  # clearing touches only cells that hold something
    else:
        keys = [(r, c) for r in range(box.row0, box.row1) for c in range(box.col0, box.col1)]
    for key in keys:
        store(sheet, key, picked)

"""A1 notation, GridRanges and field masks: the addressing shared by the Sheets handlers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


class RangeError(ValueError):
    """An address that does not parse or does not fit the grid; the message is Google's wording."""


def column_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_index(letters: str) -> int:
    value = 0
    for char in letters.upper():
        value = value * 26 + ord(char) - 64
    return value - 1


@dataclass(frozen=True)
class Box:
    """A rectangle of a worksheet, 0-based, end-exclusive (GridRange semantics, ends resolved)."""

    row0: int
    row1: int
    col0: int
    col1: int

    def cells(self) -> int:
        return max(0, self.row1 - self.row0) * max(0, self.col1 - self.col0)

    def contains(self, other: Box) -> bool:
        return (
            self.row0 <= other.row0
            and other.row1 <= self.row1
            and self.col0 <= other.col0
            and other.col1 <= self.col1
        )

    def intersects(self, other: Box) -> bool:
        return (
            self.row0 < other.row1
            and other.row0 < self.row1
            and self.col0 < other.col1
            and other.col0 < self.col1
        )

    def a1(self) -> str:
        start = f"{column_letters(self.col0)}{self.row0 + 1}"
        end = f"{column_letters(self.col1 - 1)}{self.row1}"
        return start if start == end else f"{start}:{end}"

    def grid_range(self, sheet_id: int) -> dict[str, int]:
        return {
            "sheetId": sheet_id,
            "startRowIndex": self.row0,
            "endRowIndex": self.row1,
            "startColumnIndex": self.col0,
            "endColumnIndex": self.col1,
        }


def quote_title(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def split_a1(text: str) -> tuple[str | None, str]:
    """`'My sheet'!A1:B2` → ("My sheet", "A1:B2"); a bare title → (title, "")."""
    if "!" in text:
        title, _, cells = text.rpartition("!")
    elif _looks_like_cells(text):
        return None, text
    else:
        title, cells = text, ""
    if title.startswith("'") and title.endswith("'") and len(title) >= 2:
        title = title[1:-1].replace("''", "'")
    return title, cells


def _looks_like_cells(text: str) -> bool:
    parts = text.split(":")
    return 1 <= len(parts) <= 2 and all(p and _CELL.match(p) for p in parts)


def parse_cells(cells: str, rows: int, cols: int) -> Box:
    """`A1:C3`, `A:C`, `2:5`, `B2` or "" (the whole sheet) within a rows × cols grid."""
    if not cells:
        return Box(0, rows, 0, cols)
    parts = cells.split(":")
    if len(parts) > 2:
        raise RangeError(f"Unable to parse range: {cells}")
    bounds = []
    for part in parts:
        match = _CELL.match(part)
        if not match or not part:
            raise RangeError(f"Unable to parse range: {cells}")
        letters, digits = match.groups()
        bounds.append((column_index(letters) if letters else None, int(digits) - 1 if digits else None))
    (c0, r0), (c1, r1) = bounds[0], bounds[-1]
    return Box(
        r0 if r0 is not None else 0,
        (r1 + 1) if r1 is not None else rows,
        c0 if c0 is not None else 0,
        (c1 + 1) if c1 is not None else cols,
    )


def grid_box(grid_range: dict[str, Any], rows: int, cols: int) -> Box:
    """A GridRange with missing bounds meaning "to the edge of the grid"."""

    def bound(key: str, default: int) -> int:
        value = grid_range.get(key)
        if value is None:
            return default
        if not isinstance(value, int) or value < 0:
            raise RangeError(f"Invalid {key}: {value!r}")
        return value

    return Box(
        bound("startRowIndex", 0),
        bound("endRowIndex", rows),
        bound("startColumnIndex", 0),
        bound("endColumnIndex", cols),
    )


def check_in_grid(box: Box, title: str, rows: int, cols: int) -> None:
    if box.row1 > rows or box.col1 > cols:
        raise RangeError(
            f"Range ({quote_title(title)}!{box.a1()}) exceeds grid limits. "
            f"Max rows: {rows}, max columns: {cols}"
        )
    if box.row0 >= box.row1 or box.col0 >= box.col1:
        raise RangeError(f"Range ({quote_title(title)}!{box.a1()}) is empty")


# --- field masks ----------------------------------------------------------------------------------

Mask = dict[str, "Mask"]  # an empty dict selects the whole subtree


def parse_mask(text: str) -> Mask:
    """`sheets(properties(sheetId,title),merges),spreadsheetId` or `a/b,c.d` → a tree of names."""
    tree: Mask = {}
    end = _parse_into(text.replace("/", ".").replace(" ", ""), 0, tree)
    if end != len(text.replace(" ", "")):
        raise RangeError(f"Invalid field selection {text}")
    return tree


def _parse_into(text: str, pos: int, node: Mask) -> int:
    while pos < len(text):
        start = pos
        while pos < len(text) and text[pos] not in ",()":
            pos += 1
        path = text[start:pos]
        target = node
        if path:
            for part in path.split("."):
                target = target.setdefault(part, {})
        if pos < len(text) and text[pos] == "(":
            pos = _parse_into(text, pos + 1, target)
            if pos >= len(text) or text[pos] != ")":
                raise RangeError(f"Invalid field selection {text}")
            pos += 1
        if pos < len(text) and text[pos] == ")":
            return pos
        if pos < len(text) and text[pos] == ",":
            pos += 1
    return pos


def apply_mask(value: Any, mask: Mask) -> Any:
    """Keep only the masked parts of a JSON value (lists are masked element by element)."""
    if not mask or "*" in mask:
        return value
    if isinstance(value, list):
        return [apply_mask(item, mask) for item in value]
    if isinstance(value, dict):
        return {key: apply_mask(value[key], sub) for key, sub in mask.items() if key in value}
    return value


def mask_paths(fields: str) -> list[tuple[str, ...]]:
    """A write mask as leaf paths: `a(b.c),d` → [(a, b, c), (d,)]."""
    paths: list[tuple[str, ...]] = []

    def walk(node: Mask, prefix: tuple[str, ...]) -> None:
        for key, sub in node.items():
            if sub:
                walk(sub, (*prefix, key))
            else:
                paths.append((*prefix, key))

    walk(parse_mask(fields), ())
    return paths

"""The sheet as files: XLSX (same grid, merges, formats, frozen panes as the Google Sheet) and CSV.

Both are written to a temporary file next to the target and renamed over it, so a failed write
never leaves a half file where the seller (or a download link) expects a whole one.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell

from warehouse.sheet_layout import STYLE, SheetGrid

_THICK = 5  # xlsxwriter's border index for a thick line
HEADER_ROWS = 2


def tenant_folder(out_dir: Path, seller_name: str) -> Path:
    """Where a tenant's published files go: `<out_dir>/<seller name>/`. A seller's name becomes a
    folder name: letters (Cyrillic too), digits, spaces, - _ . are kept."""
    safe = re.sub(r"[^\w\- .]+", "_", seller_name).strip(" .") or "seller"
    return Path(out_dir) / safe


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary path in the target's directory (same filesystem, so the rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb") as f:  # durable before it becomes visible
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_xlsx(grids: list[SheetGrid], path: Path) -> None:
    """One worksheet per grid, named by its title."""
    if not grids:
        raise ValueError("no grids to write: an XLSX file needs at least one worksheet")
    with _atomic(path) as temporary:
        # Seller text (articles, names) is data: never let it turn into formulas, links or numbers.
        # constant_memory streams rows to disk, so 10 000 × 200 cells never sit in memory twice.
        workbook = xlsxwriter.Workbook(
            str(temporary),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        try:
            for grid in grids:
                _write_sheet(workbook, grid)
        finally:
            workbook.close()


def _write_sheet(workbook: Any, grid: SheetGrid) -> None:
    sheet = workbook.add_worksheet(grid.title)
    formats: dict[tuple[str, bool], Any] = {}

    def fmt(role: str, left: bool) -> Any:
        """A cell format by column role, cached: xlsxwriter keeps one XF per distinct format."""
        key = (role, left)
        if key not in formats:
            spec: dict[str, Any] = {}
            if role == "header":
                spec = {
                    "bold": STYLE.header_bold,
                    "font_size": STYLE.header_font_size,
                    "font_color": STYLE.header_font_color,
                    "bg_color": STYLE.header_fill,
                    "pattern": 1,
                    "align": "center",
                    "valign": "vcenter",
                    "text_wrap": STYLE.header_wrap,
                }
            elif role == "count":
                spec = {"num_format": STYLE.count_format}
            elif role == "turnover":
                spec = {"num_format": STYLE.turnover_format}
            if left:
                spec["left"] = _THICK
            formats[key] = workbook.add_format(spec)
        return formats[key]

    starts = set(grid.group_starts)
    roles = ["text"] * grid.width
    for c in grid.count_columns:
        roles[c] = "count"
    for c in grid.turnover_columns:
        roles[c] = "turnover"

    # Column formats carry the number formats and block borders: cells written without a format
    # of their own take them, which keeps the per-cell loop to a plain write_row.
    for c, width in enumerate(STYLE.column_widths_px(grid.width)):
        sheet.set_column_pixels(c, c, width, fmt(roles[c], c in starts))
    for r, height in enumerate(STYLE.row_heights_px):
        sheet.set_row_pixels(r, height)

    # constant_memory writes rows strictly in order: row 1 (merges), row 2, then the products.
    # Row 1 is all merges (A–D, E–I, one per group), so it is written as merges alone.
    for first, last in grid.merges:
        sheet.merge_range(0, first, 0, last, grid.top_header[first], fmt("header", first in starts))
    for c, caption in enumerate(grid.header):
        sheet.write_string(1, c, caption, fmt("header", c in starts))
    for r, row in enumerate(grid.rows, start=HEADER_ROWS):
        sheet.write_row(r, 0, row)  # None → nothing written: an empty cell, not ""

    sheet.freeze_panes(STYLE.frozen_rows, STYLE.frozen_columns)
    # Printed or exported to PDF: landscape, the two header rows on every page.
    sheet.set_landscape()
    sheet.repeat_rows(0, STYLE.frozen_rows - 1)
    if grid.rows:
        _low_stock_rule(workbook, sheet, grid)


def _low_stock_rule(workbook: Any, sheet: Any, grid: SheetGrid) -> None:
    """Red fill on turnover below the threshold. A formula rule, not `cell < N`: Excel compares an
    empty cell as 0, which would paint every product without orders red."""
    red = workbook.add_format({"bg_color": STYLE.low_stock_fill})
    last = HEADER_ROWS + len(grid.rows) - 1
    for c in grid.turnover_columns:
        top = xl_rowcol_to_cell(HEADER_ROWS, c, row_abs=False, col_abs=False)
        sheet.conditional_format(
            HEADER_ROWS,
            c,
            last,
            c,
            {
                "type": "formula",
                "criteria": f"=AND(ISNUMBER({top}),{top}<{grid.low_stock_days})",
                "format": red,
            },
        )


def write_csv(grid: SheetGrid, path: Path) -> None:
    """Both header rows, then the products; numbers unformatted, None as an empty field.

    UTF-8 with a BOM: without it Excel opens the file as the system code page and garbles Cyrillic;
    Python (`utf-8-sig`), Polars and LibreOffice read the BOM transparently.
    """
    with _atomic(path) as temporary, open(temporary, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(grid.top_header)
        writer.writerow(grid.header)
        writer.writerows(grid.rows)  # csv writes None as "" and numbers via repr

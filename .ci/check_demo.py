"""After `make demo`: did it write what DESIGN §3 promises, for every seller it set up?

For each active tenant in the demo's app database: `<output_dir>/<seller>/stock.xlsx` with a worksheet
per connected marketplace and `<output_dir>/<seller>/<marketplace>.csv` with both header rows and at
least one product, and `<output_dir>/<seller>/telegram/messages.json` holding the Bot API calls the
seller's linked chat received, among them an accepted `sendPhoto` whose chart PNG sits beside it;
all written by this demo run (not left over from an earlier one). Prints what it found; exits 1
naming every missing or stale file.

Usage: python .ci/check_demo.py --since UNIX_SECONDS
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from openpyxl import load_workbook

from assets.sheet import SheetFiles
from settings import Settings
from warehouse.app_db import session_factory
from warehouse.tenants import active_tenants


def problems_of(path: Path, since: float) -> list[str]:
    if not path.is_file():
        return [f"{path}: missing"]
    if path.stat().st_mtime < since:
        return [f"{path}: not written by this run (older than the demo)"]
    return []


def check_seller(folder: Path, marketplaces: tuple[str, ...], since: float) -> list[str]:
    xlsx = folder / "stock.xlsx"
    problems = problems_of(xlsx, since)
    if not problems:
        sheets = load_workbook(xlsx, read_only=True).sheetnames
        # One worksheet per marketplace, then the supply plan's.
        if len(sheets) != len(marketplaces) + 1 or sheets[-1] != "План поставок":
            problems.append(
                f"{xlsx}: worksheets {sheets}, expected one per marketplace {list(marketplaces)} "
                "and «План поставок»"
            )
    for marketplace in marketplaces:
        path = folder / f"{marketplace}.csv"
        found = problems_of(path, since)
        if not found:
            with path.open(encoding="utf-8-sig", newline="") as f:
                rows = sum(1 for _ in csv.reader(f))
            if rows < 3:
                found.append(f"{path}: {rows} lines, expected two header rows and at least one product")
        problems += found
    return problems


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_telegram(folder: Path, since: float) -> list[str]:
    path = folder / "telegram" / "messages.json"
    problems = problems_of(path, since)
    if problems:
        return problems
    try:
        calls = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return [f"{path}: not JSON ({exc})"]
    photos = [c for c in calls if isinstance(c, dict) and c.get("method") == "sendPhoto" and c.get("ok")]
    if not photos:
        methods = [c.get("method") for c in calls if isinstance(c, dict)]
        return [f"{path}: no accepted sendPhoto among the calls {methods}"]
    for call in photos:
        for name in call.get("files", []):
            png = path.parent / name
            if not png.is_file() or not png.read_bytes().startswith(PNG_SIGNATURE):
                problems.append(f"{png}: the chart sent is missing or not a PNG")
    if not any(call.get("files") for call in photos):
        problems.append(f"{path}: the sendPhoto calls name no file written beside it")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", type=float, required=True, help="when the demo started (Unix seconds)")
    since = parser.parse_args().since - 1  # file systems keep whole-second times on some machines

    settings = Settings()
    assert settings.output_dir is not None  # set by the settings' defaults
    with session_factory(settings.app_database_url)() as session:
        tenants = [t for t in active_tenants(session) if t.marketplaces]
    if not tenants:
        print(f"make demo set up no seller with marketplace keys in {settings.app_database_url}")
        return 1
    files = SheetFiles(out_dir=str(settings.output_dir))
    problems: list[str] = []
    for tenant in tenants:
        folder = files.folder(tenant.name)
        found = check_seller(folder, tenant.marketplaces, since) + check_telegram(folder, since)
        verdict = "ok" if not found else f"{len(found)} problem(s)"
        print(f"  {tenant.name} ({', '.join(tenant.marketplaces)}): {folder} — {verdict}")
        problems += found
    if problems:
        print("make demo did not write every seller's sheet files and Telegram messages:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print(
        f"make demo wrote stock.xlsx, the CSVs and telegram/messages.json for all {len(tenants)} demo sellers"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Publishing a tenant's sheet to its Google Spreadsheet (DESIGN §6), through gspread.

Cost per publish: one metadata read for the whole spreadsheet, then per worksheet one
`:batchUpdate` that rewrites it atomically (structure, values, formats, merges, rules) — or none
when the grid's digest and size are unchanged. A payload over Google's recommended 2 MB is
written into a hidden staging worksheet in chunks and swapped in by a last batch, so a failure
half-way leaves the previous grid. Every call first draws from the shared budget
(resources/sheets_budget.py). Only the product's own worksheets are ever touched.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import requests
from dagster import ConfigurableResource
from sqlalchemy.exc import SQLAlchemyError

from resources.sheets_budget import DEFAULT_BURST, Budget, make_budget
from warehouse.app_db import session_factory
from warehouse.sheet_layout import NOTE_ROW_HEIGHT_PX, STYLE, SheetGrid, to_sheets_rows
from warehouse.telemetry import record_sheet_publish

if TYPE_CHECKING:
    from gspread.exceptions import APIError

# gspread and google-auth (0.3 CPU s of imports) are imported where a publish first needs them: every
# sync's run process imports this module, and a sync whose sheet is unchanged or not set up publishes
# nothing (bench/bench_fleet.py).

SHEETS_HOST = "https://sheets.googleapis.com"
DRIVE_HOST = "https://www.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
PAYLOAD_LIMIT = 2_000_000  # Google's recommended maximum request body
# Only what the plan needs, for every tab at once: ids, titles, sizes and how many rules ours has.
METADATA_FIELDS = (
    "sheets(properties(sheetId,title,index,gridProperties(rowCount,columnCount)),"
    "conditionalFormats(ranges(sheetId)))"
)
STAGING_SUFFIX = " ~staging"
HEADER_ROWS = 2
MAX_BACKOFF_SECONDS = 32.0

T = TypeVar("T")
log = logging.getLogger("stock_tracker.sheets")


class PublishError(RuntimeError):
    """A publish failed for good; the message tells the seller (or operator) what to do."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class WorksheetResult:
    title: str
    sheet_id: int
    written: bool
    requests: int  # write calls sent for this worksheet, retries included
    digest: str


@dataclass(frozen=True)
class PublishResult:
    spreadsheet_id: str
    worksheets: dict[str, WorksheetResult]
    reads: int

    @property
    def writes(self) -> int:
        return sum(w.requests for w in self.worksheets.values())

    def digests(self) -> dict[str, str]:
        """What to pass as `last_digests` next time."""
        return {title: w.digest for title, w in self.worksheets.items()}


# --- sessions: gspread has no base-URL setting (DESIGN §10) ---------------------------------------


def rewrite_url(url: str, hosts: Mapping[str, str]) -> str:
    for real, local in hosts.items():
        if url.startswith(real):
            return local.rstrip("/") + url[len(real) :]
    return url


class RewritingSession(requests.Session):
    """A plain session with a fixed bearer token (the sandbox), sending Google's URLs elsewhere."""

    def __init__(self, hosts: Mapping[str, str], token: str) -> None:
        super().__init__()
        self.hosts = dict(hosts)
        self.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().request(method, rewrite_url(str(url), self.hosts), *args, **kwargs)


def rewriting_authorized_session(credentials: Any, hosts: Mapping[str, str]) -> requests.Session:
    """google-auth's session (real service-account credentials), optionally pointed elsewhere."""
    from google.auth.transport.requests import AuthorizedSession

    class RewritingAuthorizedSession(AuthorizedSession):
        def __init__(self) -> None:
            super().__init__(credentials)
            self.hosts = dict(hosts)

        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return super().request(method, rewrite_url(str(url), self.hosts), *args, **kwargs)

    return RewritingAuthorizedSession()


_credentials: dict[str, Any] = {}
_credentials_lock = threading.Lock()


def _key_credentials(path: str) -> Any:
    """Loaded once per process: the key file is read once and tokens are refreshed in place."""
    from google.oauth2.service_account import Credentials

    with _credentials_lock:
        if path not in _credentials:
            try:
                _credentials[path] = Credentials.from_service_account_file(path, scopes=list(SCOPES))
            except (OSError, ValueError, KeyError):
                # The loader's message may quote the file; the key must never reach a log.
                raise PublishError(
                    f"The service account key file {path} is missing or is not a Google "
                    "service-account JSON key"
                ) from None
        return _credentials[path]


# --- the resource ---------------------------------------------------------------------------------


class SheetsPublisher(ConfigurableResource):
    """Google Sheets, real or sandbox by configuration only.

    Real: `service_account_file` (a Google JSON key). Sandbox: `service_account_email`, with
    `access_token` defaulting to the sandbox's `sa:<e-mail>` scheme (sandbox/sheets).
    """

    api_url: str = SHEETS_HOST
    service_account_file: str | None = None
    service_account_email: str | None = None
    access_token: str | None = None
    app_database_url: str = ""
    redis_url: str = ""
    writes_per_minute: int = 50
    reads_per_minute: int = 50
    burst: int = DEFAULT_BURST
    time_scale: float = 1.0
    timeout_seconds: float = 120.0
    max_attempts: int = 5

    def publish(
        self,
        spreadsheet_id: str,
        grids: Sequence[SheetGrid],
        last_digests: Mapping[str, str] | None = None,
    ) -> PublishResult:
        """Write each grid to its worksheet (`grid.title`); raise PublishError with the reason.
        Each attempt that reaches Google is recorded for the operator's metrics (`sheet_publishes`)."""
        _check_grids(grids)
        with _Connection(self) as connection:
            try:
                result = _Publish(connection, spreadsheet_id).run(grids, last_digests or {})
            except PublishError as exc:
                self._record(connection.email, "failed", connection.writes, str(exc))
                raise
        written = any(w.written for w in result.worksheets.values())
        self._record(connection.email, "published" if written else "unchanged", result.writes)
        return result

    def _record(self, email: str, outcome: str, writes: int, error: str | None = None) -> None:
        if not self.app_database_url:
            return
        try:
            with session_factory(self.app_database_url)() as session:
                record_sheet_publish(session, email, outcome, writes, error)
        except SQLAlchemyError as exc:
            # The sheet is what the seller sees; a missed record only leaves a gap in a graph.
            log.warning("could not record the sheet publish: %s", type(exc).__name__)

    def open_session(self) -> tuple[str, requests.Session]:
        """The service-account e-mail and a session that reaches `api_url`."""
        hosts = {SHEETS_HOST: self.api_url} if self.api_url.rstrip("/") != SHEETS_HOST else {}
        if self.service_account_file:
            credentials = _key_credentials(self.service_account_file)
            return credentials.service_account_email, rewriting_authorized_session(credentials, hosts)
        if not self.service_account_email:
            raise PublishError("Google Sheets is not configured: set service_account_file")
        token = self.access_token or f"sa:{self.service_account_email}"
        return self.service_account_email, RewritingSession(hosts, token)


def _check_grids(grids: Sequence[SheetGrid]) -> None:
    titles = [g.title for g in grids]
    if len(set(titles)) != len(titles):
        raise ValueError(f"two grids for one worksheet: {titles}")
    for grid in grids:
        if not grid.rows:
            raise PublishError(
                f"Refusing to publish an empty {grid.title} sheet: there are no products to show "
                "(the previous sheet is kept)"
            )
        lengths = {len(grid.top_header), len(grid.header), *(len(r) for r in grid.rows)}
        if lengths != {grid.width}:
            raise ValueError(f"{grid.title} grid rows are not {grid.width} cells wide: {sorted(lengths)}")


class _Connection:
    """One publish's gspread client, budgets and counters."""

    def __init__(self, publisher: SheetsPublisher) -> None:
        import gspread

        self.publisher = publisher
        self.email, self.session = publisher.open_session()
        self.http = gspread.Client(auth=None, session=self.session).http_client  # type: ignore[arg-type]
        self.http.set_timeout(publisher.timeout_seconds)
        budget = (publisher.app_database_url, publisher.redis_url)
        scale = publisher.time_scale
        self.write_budget: Budget = make_budget(*budget, publisher.writes_per_minute, publisher.burst, scale)
        self.read_budget: Budget = make_budget(*budget, publisher.reads_per_minute, publisher.burst, scale)
        self.reads = self.writes = 0

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def metadata(self, spreadsheet_id: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            return dict(self.http.fetch_sheet_metadata(spreadsheet_id, params={"fields": METADATA_FIELDS}))

        return self._call(False, read, spreadsheet_id, "metadata read")

    def batch_update(self, spreadsheet_id: str, requests_json: list[bytes], what: str) -> None:
        from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL

        # Serialised once, compactly (gspread's json= would pad it): the 2 MB check is exact.
        body = b'{"requests":[' + b",".join(requests_json) + b"]}"

        def write() -> None:
            # The reply is not needed: an unreadable body after a 200 is still a done write.
            self.http.request(
                "post",
                SPREADSHEET_BATCH_UPDATE_URL % spreadsheet_id,
                data=body,
                headers={"Content-Type": "application/json"},
            )

        self._call(True, write, spreadsheet_id, what)

    def _call(self, write: bool, send: Callable[[], T], spreadsheet_id: str, what: str) -> T:
        from gspread.exceptions import APIError

        budget, key = (self.write_budget, self.email) if write else (self.read_budget, f"{self.email}#reads")
        attempts = self.publisher.max_attempts
        failure: PublishError | None = None
        for attempt in range(1, attempts + 1):
            budget.acquire(key)
            if write:
                self.writes += 1
            else:
                self.reads += 1
            try:
                return send()
            except APIError as exc:
                status = exc.response.status_code
                if (status == 429 or status >= 500) and attempt < attempts:
                    time.sleep(self._pause(attempt, exc.response.headers.get("Retry-After")))
                    continue
                failure = _api_error(exc, self.email, spreadsheet_id, what, attempt)
            except requests.RequestException as exc:
                # A write whose answer was lost may have landed: do not send it twice.
                if not write and attempt < attempts:
                    time.sleep(self._pause(attempt, None))
                    continue
                outcome = "its outcome is unknown" if write else "nothing was written"
                failure = PublishError(
                    f"Google Sheets could not be reached for the {what} ({type(exc).__name__}); "
                    f"{outcome}, and the next sync rewrites the sheet"
                )
            break
        # Raised outside the except blocks, so no chained exception carries the request (and its
        # Authorization header) into logs or Sentry.
        assert failure is not None
        raise failure

    def _pause(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return max(0.0, float(retry_after))  # the server's number, already in its time
            except ValueError:
                pass
        ceiling = min(MAX_BACKOFF_SECONDS, 2.0 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0) / self.publisher.time_scale


def _api_error(exc: APIError, email: str, spreadsheet_id: str, what: str, attempts: int) -> PublishError:
    status = exc.response.status_code
    message = str(exc.error.get("message", ""))[:300]
    if status == 403:
        return PublishError(
            f"Share the spreadsheet with {email} as an editor: Google Sheets refused access to "
            f"spreadsheet {spreadsheet_id}",
            403,
        )
    if status == 404:
        return PublishError(f"Spreadsheet {spreadsheet_id} was not found: check the id in settings", 404)
    if status == 401:
        return PublishError("Google Sheets rejected the service account's credentials: check its key", 401)
    if status == 429:
        return PublishError(
            f"The Google Sheets quota of {email} stayed exhausted after {attempts} attempts at the "
            f"{what}; the previous sheet is kept",
            429,
        )
    if status >= 500:
        return PublishError(
            f"Google Sheets failed the {what} {attempts} times (HTTP {status}); the previous sheet is kept",
            status,
        )
    if "cells in the workbook" in message:
        return PublishError(
            "The spreadsheet is over Google's limit of 10 000 000 cells: delete unused tabs or rows "
            "(the previous sheet is kept)",
            status,
        )
    return PublishError(f"Google Sheets refused the {what} (HTTP {status}): {message}", status)


# --- the plan -------------------------------------------------------------------------------------


class _Publish:
    def __init__(self, connection: _Connection, spreadsheet_id: str) -> None:
        self.connection, self.spreadsheet_id = connection, spreadsheet_id

    def run(self, grids: Sequence[SheetGrid], last_digests: Mapping[str, str]) -> PublishResult:
        meta = self.connection.metadata(self.spreadsheet_id)
        self.tabs = {s["properties"]["title"]: s for s in meta.get("sheets") or []}
        self.taken = {s["properties"]["sheetId"] for s in self.tabs.values()}
        results = {}
        for grid in grids:
            before = self.connection.writes
            sheet_id, written = self._worksheet(grid, last_digests.get(grid.title))
            requests_sent = self.connection.writes - before
            results[grid.title] = WorksheetResult(grid.title, sheet_id, written, requests_sent, grid.digest())
        return PublishResult(self.spreadsheet_id, results, self.connection.reads)

    def _new_id(self, title: str) -> int:
        # Chosen by us, so the same batch can address the sheet it adds.
        sheet_id = zlib.crc32(title.encode()) & 0x7FFFFFFF
        while sheet_id in self.taken or sheet_id == 0:
            sheet_id = (sheet_id + 1) & 0x7FFFFFFF
        self.taken.add(sheet_id)
        return sheet_id

    def _worksheet(self, grid: SheetGrid, last_digest: str | None) -> tuple[int, bool]:
        tab = self.tabs.get(grid.title)
        n_rows = grid.row_count
        if tab is not None:
            props = tab["properties"]
            size = props.get("gridProperties") or {}
            if last_digest == grid.digest() and (size.get("rowCount"), size.get("columnCount")) == (
                n_rows,
                grid.width,
            ):
                return props["sheetId"], False
        rows = [orjson.dumps(row) for row in to_sheets_rows(grid)]
        structure = [orjson.dumps(r) for r in _structure(grid, -1, n_rows)]  # sized with a dummy id
        size = sum(map(len, rows)) + sum(map(len, structure)) + 4096
        if size <= PAYLOAD_LIMIT:
            return self._in_place(grid, tab, rows), True
        return self._staged(grid, tab, rows), True

    def _in_place(self, grid: SheetGrid, tab: dict[str, Any] | None, rows: list[bytes]) -> int:
        """One atomic batch: the previous grid or the new one, nothing in between."""
        n_rows = len(rows)
        grid_props = _grid_properties(grid, n_rows)
        if tab is None:
            sheet_id = self._new_id(grid.title)
            prefix: list[dict[str, Any]] = [
                {
                    "addSheet": {
                        "properties": {"sheetId": sheet_id, "title": grid.title, "gridProperties": grid_props}
                    }
                }
            ]
        else:
            sheet_id = tab["properties"]["sheetId"]
            rules = len(tab.get("conditionalFormats") or [])
            prefix = [
                {"unmergeCells": {"range": {"sheetId": sheet_id}}},  # the whole tab: old groups go
                *(
                    {"deleteConditionalFormatRule": {"sheetId": sheet_id, "index": i}}
                    for i in reversed(range(rules))
                ),
                # Exactly rows × width: whatever lay beyond the new edge is dropped with the grid.
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": sheet_id, "gridProperties": grid_props},
                        "fields": "gridProperties(" + ",".join(grid_props) + ")",
                    }
                },
            ]
        leftover = self.tabs.pop(grid.title + STAGING_SUFFIX, None)
        if leftover is not None:  # a hidden half-filled copy from a failed staged publish
            prefix.insert(0, {"deleteSheet": {"sheetId": leftover["properties"]["sheetId"]}})
        # Values and formats together: cells the new grid leaves empty lose old values and formats.
        cells = _cells(sheet_id, 0, rows, "userEnteredValue,userEnteredFormat")
        batch = [*map(orjson.dumps, prefix), cells, *map(orjson.dumps, _structure(grid, sheet_id, n_rows))]
        self.connection.batch_update(self.spreadsheet_id, batch, f"update of the {grid.title} sheet")
        self.tabs.setdefault(grid.title, {"properties": {"sheetId": sheet_id, "title": grid.title}})
        return sheet_id

    def _staged(self, grid: SheetGrid, tab: dict[str, Any] | None, rows: list[bytes]) -> int:
        """Too big for one batch: fill a hidden copy chunk by chunk, then swap it in atomically."""
        n_rows = len(rows)
        staging = grid.title + STAGING_SUFFIX
        stage_id = self._new_id(staging)
        first: list[dict[str, Any]] = []
        leftover = self.tabs.pop(staging, None)  # from an earlier publish that failed half-way
        if leftover is not None:
            first.append({"deleteSheet": {"sheetId": leftover["properties"]["sheetId"]}})
        # Tab positions once the leftover is gone (metadata lists tabs in index order).
        order = list(self.tabs.values())
        first.append(
            {
                "addSheet": {
                    "properties": {
                        "sheetId": stage_id,
                        "title": staging,
                        "index": len(order),  # last, so the tabs before keep their places
                        "hidden": True,
                        "gridProperties": _grid_properties(grid, n_rows),
                    }
                }
            }
        )
        first += _structure(grid, stage_id, n_rows)
        what = f"staged update of the {grid.title} sheet"
        self.connection.batch_update(self.spreadsheet_id, [orjson.dumps(r) for r in first], what)
        start = 0
        for chunk in _chunks(rows, PAYLOAD_LIMIT - 4096):
            # Values only: the fresh tab has no stale formats, and the structure batch set ours.
            self.connection.batch_update(
                self.spreadsheet_id, [_cells(stage_id, start, chunk, "userEnteredValue")], what
            )
            start += len(chunk)
        # Shown at the old tab's place (which pushes the old tab right), then the old tab goes.
        index = order.index(tab) if tab is not None else len(order)
        swap: list[dict[str, Any]] = [
            {
                "updateSheetProperties": {
                    "properties": {"sheetId": stage_id, "hidden": False, "index": index},
                    "fields": "hidden,index",
                }
            }
        ]
        if tab is not None:
            swap.append({"deleteSheet": {"sheetId": tab["properties"]["sheetId"]}})
        swap.append(
            {
                "updateSheetProperties": {
                    "properties": {"sheetId": stage_id, "title": grid.title},
                    "fields": "title",
                }
            }
        )
        self.connection.batch_update(self.spreadsheet_id, [orjson.dumps(r) for r in swap], what)
        # Later worksheets of this publish see the tabs as they are now (same place, new id).
        self.tabs[grid.title] = {"properties": {"sheetId": stage_id, "title": grid.title}}
        return stage_id


def _chunks(rows: list[bytes], limit: int) -> list[list[bytes]]:
    chunks: list[list[bytes]] = [[]]
    size = 0
    for row in rows:
        if chunks[-1] and size + len(row) + 1 > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += len(row) + 1
    return chunks


def _cells(sheet_id: int, start_row: int, rows: list[bytes], fields: str) -> bytes:
    head = orjson.dumps(
        {"start": {"sheetId": sheet_id, "rowIndex": start_row, "columnIndex": 0}, "fields": fields}
    )
    return b'{"updateCells":' + head[:-1] + b',"rows":[' + b",".join(rows) + b"]}}"


# --- structure: formats, merges, borders, sizes, rules (O(width) requests) ------------------------


def _rgb(hex_color: str) -> dict[str, float]:
    value = hex_color.lstrip("#")
    red, green, blue = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return {"red": round(red, 4), "green": round(green, 4), "blue": round(blue, 4)}


def _grid_properties(grid: SheetGrid, n_rows: int) -> dict[str, int]:
    return {
        "rowCount": n_rows,
        "columnCount": grid.width,
        "frozenRowCount": STYLE.frozen_rows,
        "frozenColumnCount": STYLE.frozen_columns,
    }


def _runs(columns: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted columns as [start, end) runs: one request per run instead of per column."""
    runs: list[tuple[int, int]] = []
    for column in sorted(columns):
        if runs and runs[-1][1] == column:
            runs[-1] = (runs[-1][0], column + 1)
        else:
            runs.append((column, column + 1))
    return runs


def _area(sheet_id: int, rows: tuple[int, int], columns: tuple[int, int]) -> dict[str, int]:
    return {
        "sheetId": sheet_id,
        "startRowIndex": rows[0],
        "endRowIndex": rows[1],
        "startColumnIndex": columns[0],
        "endColumnIndex": columns[1],
    }


def _letters(column: int) -> str:
    letters, column = "", column + 1
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _structure(grid: SheetGrid, sheet_id: int, n_rows: int) -> list[dict[str, Any]]:
    # Formats, borders and rules cover the product rows; the footer (a note) below them has its own.
    width, data = grid.width, (HEADER_ROWS, HEADER_ROWS + len(grid.rows))
    header_format = {
        "backgroundColor": _rgb(STYLE.header_fill),
        "textFormat": {
            "foregroundColor": _rgb(STYLE.header_font_color),
            "bold": STYLE.header_bold,
            "fontSize": STYLE.header_font_size,
        },
        "horizontalAlignment": "CENTER",
        "verticalAlignment": "MIDDLE",
        "wrapStrategy": "WRAP" if STYLE.header_wrap else "OVERFLOW_CELL",
    }
    requests_: list[dict[str, Any]] = [
        {
            "repeatCell": {
                "range": _area(sheet_id, (0, HEADER_ROWS), (0, width)),
                "cell": {"userEnteredFormat": header_format},
                "fields": "userEnteredFormat(" + ",".join(header_format) + ")",
            }
        }
    ]
    for columns, pattern in (
        (grid.count_columns, STYLE.count_format),
        (grid.turnover_columns, STYLE.turnover_format),
    ):
        for run in _runs(columns):
            requests_.append(
                {
                    "repeatCell": {
                        "range": _area(sheet_id, data, run),
                        "cell": {
                            "userEnteredFormat": {"numberFormat": {"type": "NUMBER", "pattern": pattern}}
                        },
                        "fields": "userEnteredFormat.numberFormat",
                    }
                }
            )
    for first, last in grid.merges:
        if last > first:
            requests_.append(
                {
                    "mergeCells": {
                        "range": _area(sheet_id, (0, 1), (first, last + 1)),
                        "mergeType": "MERGE_ALL",
                    }
                }
            )
    border = {"style": "SOLID_THICK" if STYLE.group_border == "thick" else "SOLID_MEDIUM"}
    for start in grid.group_starts:
        requests_.append(
            {"updateBorders": {"range": _area(sheet_id, (0, data[1]), (start, start + 1)), "left": border}}
        )
    if grid.note_row is not None:
        requests_ += _note(grid, sheet_id, grid.note_row)
    for row, pixels in enumerate(STYLE.row_heights_px):
        requests_.append(_dimension(sheet_id, "ROWS", row, row + 1, pixels))
    widths = STYLE.column_widths_px(width)
    start = 0
    for column in range(1, width + 1):
        if column == width or widths[column] != widths[start]:
            requests_.append(_dimension(sheet_id, "COLUMNS", start, column, widths[start]))
            start = column
    # One rule per turnover column: CUSTOM_FORMULA so empty cells (no orders) stay unmarked, which a
    # NUMBER_LESS rule would colour as 0.
    low_fill = {"backgroundColor": _rgb(STYLE.low_stock_fill)}
    for index, column in enumerate(grid.turnover_columns):
        cell = f"{_letters(column)}{HEADER_ROWS + 1}"
        formula = f"=AND(ISNUMBER({cell}),{cell}<{grid.low_stock_days})"
        requests_.append(
            {
                "addConditionalFormatRule": {
                    "index": index,
                    "rule": {
                        "ranges": [_area(sheet_id, data, (column, column + 1))],
                        "booleanRule": {
                            "condition": {
                                "type": "CUSTOM_FORMULA",
                                "values": [{"userEnteredValue": formula}],
                            },
                            "format": low_fill,
                        },
                    },
                }
            }
        )
    return requests_


def _note(grid: SheetGrid, sheet_id: int, row: int) -> list[dict[str, Any]]:
    """The note below the products: across the frozen columns A–D (a merge may not cross the frozen
    edge), wrapped and italic, in a row tall enough for two lines."""
    note_format = {"wrapStrategy": "WRAP", "verticalAlignment": "TOP", "textFormat": {"italic": True}}
    columns = (0, STYLE.frozen_columns)
    return [
        {"mergeCells": {"range": _area(sheet_id, (row, row + 1), columns), "mergeType": "MERGE_ALL"}},
        {
            "repeatCell": {
                "range": _area(sheet_id, (row, row + 1), columns),
                "cell": {"userEnteredFormat": note_format},
                "fields": "userEnteredFormat(" + ",".join(note_format) + ")",
            }
        },
        _dimension(sheet_id, "ROWS", row, row + 1, NOTE_ROW_HEIGHT_PX),
    ]


def _dimension(sheet_id: int, dimension: str, start: int, end: int, pixels: int) -> dict[str, Any]:
    return {
        "updateDimensionProperties": {
            "range": {"sheetId": sheet_id, "dimension": dimension, "startIndex": start, "endIndex": end},
            "properties": {"pixelSize": pixels},
            "fields": "pixelSize",
        }
    }

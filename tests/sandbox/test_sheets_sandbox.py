"""The Google Sheets stand-in, over real HTTP: Google's answers, atomic batches, limits, quota.

gspread itself is one of the callers, through the same host-rewriting session the product uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gspread
import orjson
import pytest
import requests

from resources.sheets import DRIVE_HOST, SHEETS_HOST, RewritingSession
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer

EDITOR = "editor@st-prod.iam.gserviceaccount.com"
VIEWER = "viewer@st-prod.iam.gserviceaccount.com"
STRANGER = "other@elsewhere.iam.gserviceaccount.com"
SCENARIO = {
    "version": 1,
    "clock": "2025-11-10T23:59:00+03:00",
    "sellers": [],
    "spreadsheets": [
        {
            "id": "book-1",
            "title": "Остатки",
            "editors": [EDITOR],
            "viewers": [VIEWER],
            "sheets": [{"title": "Notes", "rows": [["keep me", 1, 2.5], [None, "x"]]}],
        }
    ],
}


class Sheets:
    """Raw Sheets v4 calls as one service account."""

    def __init__(self, server: SandboxServer, email: str | None) -> None:
        self.base = server.urls["sheets"] + "/v4/spreadsheets"
        self.control = server.control_url
        self.session = requests.Session()
        if email:
            self.session.headers["Authorization"] = f"Bearer sa:{email}"

    def get(self, book: str = "book-1", **params: Any) -> requests.Response:
        return self.session.get(f"{self.base}/{book}", params=params, timeout=30)

    def batch(self, requests_: list[dict[str, Any]], book: str = "book-1") -> requests.Response:
        return self.session.post(f"{self.base}/{book}:batchUpdate", json={"requests": requests_}, timeout=30)

    def values(self, data: list[dict[str, Any]], book: str = "book-1") -> requests.Response:
        body = {"valueInputOption": "RAW", "data": data, "includeValuesInResponse": None}
        return self.session.post(f"{self.base}/{book}/values:batchUpdate", json=body, timeout=30)

    def state(self, book: str = "book-1") -> dict[str, Any]:
        answer = requests.get(f"{self.control}/sheets/spreadsheets/{book}", timeout=30)
        answer.raise_for_status()
        return answer.json()

    def tab(self, title: str, book: str = "book-1") -> dict[str, Any]:
        return next(s for s in self.state(book)["sheets"] if s["title"] == title)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(parse_scenario(orjson.dumps(SCENARIO)), time_scale=200) as running:
        yield running


@pytest.fixture
def sheets(server: SandboxServer) -> Sheets:
    return Sheets(server, EDITOR)


def _error(answer: requests.Response) -> dict[str, Any]:
    return answer.json()["error"]


def test_scenario_spreadsheet_and_metadata_with_a_fields_mask(sheets: Sheets) -> None:
    whole = sheets.get().json()
    assert whole["spreadsheetId"] == "book-1" and whole["properties"]["title"] == "Остатки"
    notes = whole["sheets"][0]["properties"]
    assert notes["title"] == "Notes" and notes["gridProperties"] == {"rowCount": 1000, "columnCount": 26}

    masked = sheets.get(fields="sheets(properties(sheetId,title))").json()
    assert masked == {"sheets": [{"properties": {"sheetId": 0, "title": "Notes"}}]}
    slashes = sheets.get(fields="sheets/properties/gridProperties/rowCount").json()
    assert slashes == {"sheets": [{"properties": {"gridProperties": {"rowCount": 1000}}}]}

    grid = sheets.get(includeGridData="true").json()["sheets"][0]["data"][0]["rowData"]
    assert [c.get("formattedValue") for c in grid[0]["values"]] == ["keep me", "1", "2.5"]


def test_auth_sharing_and_unknown_spreadsheets_answer_as_google(server: SandboxServer) -> None:
    anonymous, stranger, viewer = Sheets(server, None), Sheets(server, STRANGER), Sheets(server, VIEWER)
    assert anonymous.get().status_code == 401 and _error(anonymous.get())["status"] == "UNAUTHENTICATED"

    denied = stranger.get()
    assert denied.status_code == 403
    assert _error(denied) == {
        "code": 403,
        "message": "The caller does not have permission",
        "status": "PERMISSION_DENIED",
    }
    assert viewer.get().status_code == 200
    assert (
        viewer.batch([{"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 1}}]).status_code
        == 403
    )

    missing = Sheets(server, EDITOR).get("no-such-book")
    assert missing.status_code == 404
    assert _error(missing) == {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
    }


def test_a_bad_request_anywhere_in_a_batch_changes_nothing(sheets: Sheets) -> None:
    before = sheets.state()
    good = [
        {"addSheet": {"properties": {"sheetId": 77, "title": "Wildberries"}}},
        {
            "updateCells": {
                "start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0},
                "rows": [{"values": [{"userEnteredValue": {"stringValue": "overwritten"}}]}],
                "fields": "userEnteredValue",
            }
        },
        {
            "mergeCells": {
                "range": {
                    "sheetId": 0,
                    "startRowIndex": 5,
                    "endRowIndex": 6,
                    "startColumnIndex": 0,
                    "endColumnIndex": 3,
                },
                "mergeType": "MERGE_ALL",
            }
        },
    ]
    unknown = sheets.batch([*good, {"frobnicate": {}}])
    assert unknown.status_code == 400
    assert _error(unknown)["status"] == "INVALID_ARGUMENT"
    assert 'Unknown name "frobnicate"' in _error(unknown)["message"]
    assert sheets.state() == before

    # An addressing error in the last request rolls back the sheet the first one added, too.
    off_grid = {
        "repeatCell": {
            "range": {"sheetId": 77, "startRowIndex": 0, "endRowIndex": 1001},
            "cell": {},
            "fields": "*",
        }
    }
    refused = sheets.batch([*good, off_grid])
    assert refused.status_code == 400 and "requests[3].repeatCell" in _error(refused)["message"]
    assert sheets.state() == before

    assert sheets.batch(good).status_code == 200
    after = sheets.state()
    assert [s["title"] for s in after["sheets"]] == ["Notes", "Wildberries"]
    assert after["sheets"][0]["values"][0][0] == "overwritten"
    assert len(after["sheets"][0]["merges"]) == 1


def test_writing_past_the_grid_fails_unless_resized_in_the_same_batch(sheets: Sheets) -> None:
    wide = {
        "updateCells": {
            "start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 26},
            "rows": [{"values": [{"userEnteredValue": {"numberValue": 1}}]}],
            "fields": "userEnteredValue",
        }
    }
    refused = sheets.batch([wide])
    assert refused.status_code == 400
    assert (
        "Range ('Notes'!AA1) exceeds grid limits. Max rows: 1000, max columns: 26"
        in _error(refused)["message"]
    )

    values = sheets.values([{"range": "Notes!Z1", "values": [[1, 2]]}])
    assert values.status_code == 400 and "exceeds grid limits" in _error(values)["message"]

    resize = {
        "updateSheetProperties": {
            "properties": {"sheetId": 0, "gridProperties": {"columnCount": 30}},
            "fields": "gridProperties.columnCount",
        }
    }
    assert sheets.batch([resize, wide]).status_code == 200
    assert sheets.tab("Notes")["values"][0][26] == 1

    huge = {
        "addSheet": {
            "properties": {"title": "Huge", "gridProperties": {"rowCount": 400_000, "columnCount": 26}}
        }
    }
    over = sheets.batch([huge])
    assert over.status_code == 400
    assert "above the limit of 10000000 cells" in _error(over)["message"]


def test_merges_frozen_panes_and_sheets_follow_googles_rules(sheets: Sheets) -> None:
    def area(r0: int, r1: int, c0: int, c1: int) -> dict[str, int]:
        return {
            "sheetId": 0,
            "startRowIndex": r0,
            "endRowIndex": r1,
            "startColumnIndex": c0,
            "endColumnIndex": c1,
        }

    assert (
        sheets.batch([{"mergeCells": {"range": area(0, 1, 0, 3), "mergeType": "MERGE_ALL"}}]).status_code
        == 200
    )
    # The merge kept only its top-left value.
    assert sheets.tab("Notes")["values"][0] == ["keep me", None]
    partial = sheets.batch([{"unmergeCells": {"range": area(0, 1, 0, 2)}}])
    assert partial.status_code == 400 and "merged range" in _error(partial)["message"]
    split = {
        "updateSheetProperties": {
            "properties": {"sheetId": 0, "gridProperties": {"frozenColumnCount": 2}},
            "fields": "gridProperties.frozenColumnCount",
        }
    }
    assert sheets.batch([split]).status_code == 400
    assert sheets.batch([{"unmergeCells": {"range": {"sheetId": 0}}}, split]).status_code == 200
    assert sheets.tab("Notes")["frozenColumnCount"] == 2 and sheets.tab("Notes")["merges"] == []

    last = sheets.batch([{"deleteSheet": {"sheetId": 0}}])
    assert last.status_code == 400 and "remove all the sheets" in _error(last)["message"]
    hide = {"updateSheetProperties": {"properties": {"sheetId": 0, "hidden": True}, "fields": "hidden"}}
    assert "hide all the sheets" in _error(sheets.batch([hide]))["message"]


def test_rows_inserted_and_deleted_move_values_and_merges(sheets: Sheets) -> None:
    merge = {
        "mergeCells": {
            "range": {
                "sheetId": 0,
                "startRowIndex": 2,
                "endRowIndex": 4,
                "startColumnIndex": 0,
                "endColumnIndex": 1,
            },
            "mergeType": "MERGE_ALL",
        }
    }
    insert = {
        "insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0, "endIndex": 2}}
    }
    assert sheets.batch([merge, insert]).status_code == 200
    tab = sheets.tab("Notes")
    assert tab["rowCount"] == 1002 and tab["values"][2] == ["keep me", 1, 2.5]
    assert (tab["merges"][0]["startRowIndex"], tab["merges"][0]["endRowIndex"]) == (4, 6)
    delete = {
        "deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0, "endIndex": 3}}
    }
    assert sheets.batch([delete]).status_code == 200
    tab = sheets.tab("Notes")
    assert tab["rowCount"] == 999 and tab["values"][0] == [None, "x"]
    assert (tab["merges"][0]["startRowIndex"], tab["merges"][0]["endRowIndex"]) == (1, 3)


def test_conditional_format_rules_are_per_sheet_and_indexed(sheets: Sheets) -> None:
    rule = {
        "ranges": [
            {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 5, "startColumnIndex": 1, "endColumnIndex": 2}
        ],
        "booleanRule": {
            "condition": {"type": "NUMBER_LESS", "values": [{"userEnteredValue": "3"}]},
            "format": {},
        },
    }
    assert sheets.batch([{"addConditionalFormatRule": {"rule": rule, "index": 0}}]).status_code == 200
    assert sheets.get(fields="sheets.conditionalFormats").json()["sheets"][0]["conditionalFormats"] == [rule]
    assert sheets.batch([{"deleteConditionalFormatRule": {"sheetId": 0, "index": 1}}]).status_code == 400
    gone = sheets.batch([{"deleteConditionalFormatRule": {"sheetId": 0, "index": 0}}])
    assert gone.json()["replies"][0]["deleteConditionalFormatRule"]["rule"] == rule
    assert sheets.tab("Notes")["conditionalFormats"] == []


def test_per_minute_quota_per_service_account_answers_429(server: SandboxServer, sheets: Sheets) -> None:
    settings = {"time_scale": 1, "sheets_writes_per_minute": 3, "sheets_reads_per_minute": 5}
    requests.post(server.control_url + "/settings", json=settings, timeout=10).raise_for_status()
    grow = [{"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 1}}]
    assert [sheets.batch(grow).status_code for _ in range(3)] == [200, 200, 200]
    limited = sheets.batch(grow)
    assert limited.status_code == 429
    assert (
        _error(limited)["status"] == "RESOURCE_EXHAUSTED" and "Write requests" in _error(limited)["message"]
    )
    assert sheets.get().status_code == 200  # reads have their own bucket
    # The quota is the caller's, not the spreadsheet's: another account still writes.
    requests.post(
        server.control_url + "/sheets/spreadsheets", json={"id": "book-2", "editors": [STRANGER]}, timeout=10
    ).raise_for_status()
    assert Sheets(server, STRANGER).batch(grow, book="book-2").status_code == 200
    assert sheets.tab("Notes")["rowCount"] == 1003


def test_gspread_reads_and_writes_through_the_rewriting_session(server: SandboxServer) -> None:
    hosts = {SHEETS_HOST: server.urls["sheets"], DRIVE_HOST: server.urls["drive"]}
    client = gspread.Client(auth=None, session=RewritingSession(hosts, f"sa:{EDITOR}"))  # type: ignore[arg-type]
    book = client.open_by_key("book-1")
    tab = book.worksheet("Notes")
    tab.update(values=[["a", 1], ["b", 2]], range_name="D1")
    book.values_batch_update(
        {"valueInputOption": "USER_ENTERED", "data": [{"range": "Notes!F1", "values": [["7"]]}]}
    )
    tab.resize(rows=50, cols=10)
    tab.freeze(rows=1, cols=1)
    tab.format("A1:B1", {"textFormat": {"bold": True}})
    assert tab.get_all_values()[0] == ["keep me", "1", "2.5", "a", "1", "7"]
    assert tab.get("D2", value_render_option="UNFORMATTED_VALUE") == [["b"]]
    assert book.values_batch_get(["Notes!A2:B2"])["valueRanges"][0]["values"] == [["", "x"]]
    assert [p["emailAddress"] for p in client.list_permissions("book-1")] == [
        "owner@example.com",
        EDITOR,
        VIEWER,
    ]

    state = Sheets(server, EDITOR).tab("Notes")
    assert (state["rowCount"], state["columnCount"], state["frozenRowCount"], state["frozenColumnCount"]) == (
        50,
        10,
        1,
        1,
    )
    assert state["values"][0][5] == 7  # USER_ENTERED parsed the number
    assert state["formats"][0][1] == {"textFormat": {"bold": True}}
    paths = [
        e["path"] for e in requests.get(server.control_url + "/requests?service=sheets", timeout=10).json()
    ]
    assert paths[:2] == ["/v4/spreadsheets/book-1", "/v4/spreadsheets/book-1"]  # open_by_key + worksheet()


def test_injected_faults_speak_googles_error_shape(server: SandboxServer, sheets: Sheets) -> None:
    fault = {"service": "sheets", "endpoint": "*batchUpdate", "kind": "500", "count": 1}
    requests.post(server.control_url + "/faults", json=fault, timeout=10).raise_for_status()
    failed = sheets.batch([{"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 1}}])
    assert failed.status_code == 500 and _error(failed)["status"] == "INTERNAL"
    fault = {"service": "sheets", "endpoint": "*", "kind": "429", "count": 1}
    requests.post(server.control_url + "/faults", json=fault, timeout=10).raise_for_status()
    limited = sheets.get()
    assert limited.status_code == 429 and float(limited.headers["Retry-After"]) > 0
    assert sheets.tab("Notes")["rowCount"] == 1000


def test_control_api_creates_and_dumps_spreadsheets(server: SandboxServer) -> None:
    spec = {
        "id": "made",
        "title": "T",
        "editors": [EDITOR],
        "sheets": [{"title": "A"}, {"title": "B", "rows": [[1]]}],
    }
    created = requests.post(server.control_url + "/sheets/spreadsheets", json=spec, timeout=10)
    assert created.status_code == 201 and created.json() == {"id": "made", "sheets": ["A", "B"]}
    dump = Sheets(server, EDITOR).state("made")
    assert [(s["sheetId"], s["title"], s["values"]) for s in dump["sheets"]] == [
        (0, "A", []),
        (1, "B", [[1]]),
    ]
    bad = requests.post(server.control_url + "/sheets/spreadsheets", json={"title": "no id"}, timeout=10)
    assert bad.status_code == 400
    # Loading a scenario replaces the spreadsheets with the scenario's.
    requests.post(
        server.control_url + "/scenario", data=orjson.dumps(SCENARIO), timeout=10
    ).raise_for_status()
    assert requests.get(server.control_url + "/sheets/spreadsheets/made", timeout=10).status_code == 404

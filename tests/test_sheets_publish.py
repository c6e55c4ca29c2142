"""Publishing the stock sheet to Google Sheets (DESIGN §6), against the sandbox over real HTTP.

Grids come from the real layout (`warehouse.sheet_layout.build_grid`); the shared budget lives in
a real app database (SQLite file, PostgreSQL) or a real Redis server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from resources.sheets import PublishError, SheetsPublisher
from resources.sheets_budget import RedisBudget
from sandbox.server import SandboxServer
from warehouse.app_db import engine_for, migrate
from warehouse.sheet_layout import STYLE, SheetGrid, build_grid

SA = "stock-tracker@st-prod.iam.gserviceaccount.com"
OWNER = "seller@example.com"
SCALE = 100.0  # the sandbox's quotas and our budget both run 100× faster than real time


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(time_scale=SCALE) as running:
        yield running


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(url)
    yield url
    engine_for(url).dispose()


@pytest.fixture
def publisher(server: SandboxServer, app_url: str) -> SheetsPublisher:
    return SheetsPublisher(
        api_url=server.urls["sheets"], service_account_email=SA, app_database_url=app_url, time_scale=SCALE
    )


def new_book(server: SandboxServer, book_id: str, **spec: Any) -> None:
    body = {"id": book_id, "owner": OWNER, "editors": [SA], "sheets": [{"title": "Мои заметки"}], **spec}
    requests.post(server.control_url + "/sheets/spreadsheets", json=body, timeout=10).raise_for_status()


def state(server: SandboxServer, book_id: str) -> dict[str, Any]:
    answer = requests.get(f"{server.control_url}/sheets/spreadsheets/{book_id}", timeout=30)
    answer.raise_for_status()
    return answer.json()


def tab(server: SandboxServer, book_id: str, title: str) -> dict[str, Any]:
    return next(s for s in state(server, book_id)["sheets"] if s["title"] == title)


def calls(server: SandboxServer) -> list[tuple[str, int]]:
    log = requests.get(server.control_url + "/requests?service=sheets", timeout=10).json()
    return [(e["method"], e["status"]) for e in log]


def forget_calls(server: SandboxServer) -> None:
    requests.delete(server.control_url + "/requests", timeout=10).raise_for_status()


def fault(server: SandboxServer, **rule: Any) -> None:
    rule = {"service": "sheets", "endpoint": "*batchUpdate", **rule}
    requests.post(server.control_url + "/faults", json=rule, timeout=10).raise_for_status()


def stock_grid(
    products: int, warehouses: list[str], marketplace: str = "wildberries", seed: int = 0
) -> SheetGrid:
    rows = [
        {
            "product_id": 163_000_000 + p,
            "article": f"ART-{p:05}",
            "brand": "ITS COLLAGEN",
            "subject": "Пищевые добавки",
            "warehouse_name": name,
            "warehouse_kind": "FBO",
            "stock": (p * 7 + w * 3 + seed) % 40,
            "in_way_to_client": p % 3,
            "in_way_from_client": w % 2,
            "orders": (p + w + seed) % 5,
        }
        for p in range(products)
        for w, name in enumerate(warehouses)
    ]
    return build_grid(pl.DataFrame(rows), marketplace=marketplace, low_stock_days=10)


WAREHOUSES = ["Коледино", "Казань", "Электросталь"]


def shows(sheet: dict[str, Any], grid: SheetGrid) -> None:
    """The worksheet is exactly the grid: values, size, merges, frozen panes, formats, rules."""
    n_rows, width = len(grid.rows) + 2, grid.width
    assert (sheet["rowCount"], sheet["columnCount"]) == (n_rows, width)
    assert (sheet["frozenRowCount"], sheet["frozenColumnCount"]) == (2, 4)
    expected = [[None if v == "" else v for v in row] for row in (grid.top_header, grid.header, *grid.rows)]
    values = [row + [None] * (width - len(row)) for row in sheet["values"]]
    assert values == expected

    spans = {
        (m["startRowIndex"], m["endRowIndex"], m["startColumnIndex"], m["endColumnIndex"])
        for m in sheet["merges"]
    }
    assert spans == {(0, 1, first, last + 1) for first, last in grid.merges}

    formats = sheet["formats"]
    fill = {"red": 0.4, "green": 0.4902, "blue": 0.9216}  # STYLE.header_fill #667DEB
    for row in formats[:2]:
        for cell in row:
            assert cell["backgroundColor"] == fill
            assert cell["textFormat"] == {
                "foregroundColor": {"red": 1.0, "green": 1.0, "blue": 1.0},
                "bold": True,
                "fontSize": 10,
            }
            assert (cell["horizontalAlignment"], cell["wrapStrategy"]) == ("CENTER", "WRAP")
    for row in formats[2:]:
        for column in range(width):
            cell = row[column] or {}
            pattern = (cell.get("numberFormat") or {}).get("pattern")
            if column in grid.count_columns:
                assert pattern == "#,##0"
            elif column in grid.turnover_columns:
                assert pattern == "0.0"
            else:
                assert pattern is None
            border = (cell.get("borders") or {}).get("left")
            assert border == ({"style": "SOLID_THICK"} if column in grid.group_starts else None)
    assert sheet["rowHeights"] == {"0": 35, "1": 40}
    assert [sheet["columnWidths"][str(c)] for c in range(width)] == STYLE.column_widths_px(width)

    rules = sheet["conditionalFormats"]
    assert len(rules) == len(grid.turnover_columns)
    for rule, column in zip(rules, grid.turnover_columns, strict=True):
        (area,) = rule["ranges"]
        assert (area["startColumnIndex"], area["startRowIndex"], area["endRowIndex"]) == (column, 2, n_rows)
        formula = rule["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
        assert formula.endswith(f"<{grid.low_stock_days})")


# --- one publish ----------------------------------------------------------------------------------


def test_a_publish_is_one_read_and_one_write_and_shows_the_grid(
    server: SandboxServer, publisher: SheetsPublisher
) -> None:
    new_book(server, "b1")
    grid = stock_grid(6, WAREHOUSES)
    result = publisher.publish("b1", [grid], {})

    assert calls(server) == [("GET", 200), ("POST", 200)]
    sheet = tab(server, "b1", "Wildberries")
    shows(sheet, grid)
    published = result.worksheets["Wildberries"]
    assert (published.sheet_id, published.written, published.requests) == (sheet["sheetId"], True, 1)
    assert result.digests() == {"Wildberries": grid.digest()}
    assert [s["title"] for s in state(server, "b1")["sheets"]] == ["Мои заметки", "Wildberries"]


def test_one_read_serves_both_marketplaces(server: SandboxServer, publisher: SheetsPublisher) -> None:
    new_book(server, "b1")
    wb, ozon = stock_grid(4, WAREHOUSES), stock_grid(3, ["Хоругвино"], marketplace="ozon")
    result = publisher.publish("b1", [wb, ozon], {})
    assert calls(server) == [("GET", 200), ("POST", 200), ("POST", 200)]
    assert (result.reads, result.writes) == (1, 2)
    shows(tab(server, "b1", "Wildberries"), wb)
    shows(tab(server, "b1", "Ozon"), ozon)


def test_an_unchanged_grid_is_not_written_again(server: SandboxServer, publisher: SheetsPublisher) -> None:
    new_book(server, "b1")
    grid = stock_grid(5, WAREHOUSES)
    first = publisher.publish("b1", [grid], {})
    forget_calls(server)

    again = publisher.publish("b1", [stock_grid(5, WAREHOUSES)], first.digests())
    assert calls(server) == [("GET", 200)]
    assert again.worksheets["Wildberries"].written is False and again.writes == 0

    # Someone resized the tab by hand: the digest alone is not trusted, the sheet is rewritten.
    resize = {
        "requests": [
            {
                "updateSheetProperties": {
                    "properties": {
                        "sheetId": first.worksheets["Wildberries"].sheet_id,
                        "gridProperties": {"rowCount": 3},
                    },
                    "fields": "gridProperties.rowCount",
                }
            }
        ]
    }
    requests.post(
        server.urls["sheets"] + "/v4/spreadsheets/b1:batchUpdate",
        json=resize,
        headers={"Authorization": f"Bearer sa:{OWNER}"},
        timeout=10,
    ).raise_for_status()
    assert publisher.publish("b1", [grid], first.digests()).worksheets["Wildberries"].written
    shows(tab(server, "b1", "Wildberries"), grid)


def test_a_new_warehouse_group_remerges_and_a_smaller_grid_leaves_nothing_behind(
    server: SandboxServer, publisher: SheetsPublisher
) -> None:
    new_book(server, "b1")
    narrow, wide = stock_grid(8, WAREHOUSES[:2]), stock_grid(5, [*WAREHOUSES, "Тула"], seed=3)
    digests = publisher.publish("b1", [narrow], {}).digests()
    sheet_id = tab(server, "b1", "Wildberries")["sheetId"]

    digests = publisher.publish("b1", [wide], digests).digests()
    shows(tab(server, "b1", "Wildberries"), wide)  # old merges gone, the new spans merged

    publisher.publish("b1", [narrow], digests)
    sheet = tab(server, "b1", "Wildberries")
    shows(sheet, narrow)  # no values, formats, merges or rules beyond the narrower grid
    assert sheet["sheetId"] == sheet_id


def test_the_users_other_worksheets_are_never_touched(
    server: SandboxServer, publisher: SheetsPublisher
) -> None:
    new_book(
        server,
        "b1",
        sheets=[{"title": "Мои заметки", "rows": [["план", 10], ["закупка", 20.5]]}, {"title": "Итоги"}],
    )
    area = {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 2, "startColumnIndex": 0, "endColumnIndex": 1}
    own = [
        {"mergeCells": {"range": {**area, "endRowIndex": 1, "endColumnIndex": 2}, "mergeType": "MERGE_ALL"}},
        {
            "addConditionalFormatRule": {
                "rule": {"ranges": [area], "booleanRule": {"condition": {"type": "NOT_BLANK"}, "format": {}}}
            }
        },
        {
            "updateSheetProperties": {
                "properties": {"sheetId": 0, "gridProperties": {"frozenRowCount": 1}},
                "fields": "gridProperties.frozenRowCount",
            }
        },
    ]
    requests.post(
        server.urls["sheets"] + "/v4/spreadsheets/b1:batchUpdate",
        json={"requests": own},
        headers={"Authorization": f"Bearer sa:{OWNER}"},
        timeout=10,
    ).raise_for_status()
    before = [s for s in state(server, "b1")["sheets"]]

    digests = publisher.publish("b1", [stock_grid(4, WAREHOUSES)], {}).digests()
    publisher.publish("b1", [stock_grid(6, WAREHOUSES[:1], seed=1)], digests)

    after = state(server, "b1")["sheets"]
    assert [s["title"] for s in after] == ["Мои заметки", "Итоги", "Wildberries"]
    assert after[:2] == before


# --- failures -------------------------------------------------------------------------------------


def test_a_failing_write_keeps_the_previous_grid_and_says_why(
    server: SandboxServer, publisher: SheetsPublisher
) -> None:
    new_book(server, "b1")
    old = stock_grid(5, WAREHOUSES)
    digests = publisher.publish("b1", [old], {}).digests()
    before = tab(server, "b1", "Wildberries")
    forget_calls(server)

    fault(server, kind="500", fraction=1.0)
    with pytest.raises(
        PublishError, match=r"failed the update of the Wildberries sheet 5 times \(HTTP 500\)"
    ):
        publisher.publish("b1", [stock_grid(7, [*WAREHOUSES, "Тула"], seed=2)], digests)
    assert tab(server, "b1", "Wildberries") == before
    assert calls(server) == [("GET", 200)] + [("POST", 500)] * publisher.max_attempts


def test_a_staged_publish_failing_half_way_keeps_the_previous_grid(
    server: SandboxServer, publisher: SheetsPublisher
) -> None:
    new_book(server, "b1")
    old = stock_grid(10, WAREHOUSES)
    digests = publisher.publish("b1", [old], {}).digests()
    before = tab(server, "b1", "Wildberries")

    big = stock_grid(2500, [f"Склад {i:02}" for i in range(10)])  # ≈ 3.5 MB of cells: chunked
    # The structure batch and the first chunk land, every later write fails.
    fault(server, kind="delay", delay=0.0, count=2)
    fault(server, kind="500", fraction=1.0)
    with pytest.raises(PublishError, match="HTTP 500"):
        publisher.publish("b1", [big], digests)
    tabs = {s["title"]: s for s in state(server, "b1")["sheets"]}
    assert tabs["Wildberries"] == before
    assert tabs["Wildberries ~staging"]["hidden"] is True  # half-filled, never shown

    requests.delete(server.control_url + "/faults", timeout=10).raise_for_status()
    # The next publish, even a small in-place one, removes the half-filled copy in its one batch.
    small = stock_grid(12, WAREHOUSES, seed=5)
    assert publisher.publish("b1", [small], digests).writes == 1
    assert [s["title"] for s in state(server, "b1")["sheets"]] == ["Мои заметки", "Wildberries"]
    shows(tab(server, "b1", "Wildberries"), small)

    forget_calls(server)
    result = publisher.publish("b1", [big], digests)
    assert result.writes >= 4 and all(status == 200 for _, status in calls(server))
    assert [s["title"] for s in state(server, "b1")["sheets"]] == ["Мои заметки", "Wildberries"]
    sheet = tab(server, "b1", "Wildberries")
    assert sheet["hidden"] is False and sheet["sheetId"] == result.worksheets["Wildberries"].sheet_id
    shows(sheet, big)


def test_sharing_and_id_problems_are_told_to_the_seller(
    server: SandboxServer, publisher: SheetsPublisher
) -> None:
    grid = stock_grid(3, WAREHOUSES)
    new_book(server, "private", editors=[])
    with pytest.raises(PublishError, match=f"Share the spreadsheet with {SA} as an editor"):
        publisher.publish("private", [grid], {})
    new_book(server, "read-only", editors=[], viewers=[SA])
    with pytest.raises(PublishError, match=f"Share the spreadsheet with {SA} as an editor"):
        publisher.publish("read-only", [grid], {})
    with pytest.raises(PublishError, match="Spreadsheet nope-123 was not found: check the id in settings"):
        publisher.publish("nope-123", [grid], {})
    # Nothing was created in place of the missing spreadsheet, nothing added to the read-only one.
    assert requests.get(server.control_url + "/sheets/spreadsheets/nope-123", timeout=10).status_code == 404
    assert [s["title"] for s in state(server, "read-only")["sheets"]] == ["Мои заметки"]


def test_a_full_spreadsheet_is_told_to_the_seller(server: SandboxServer, publisher: SheetsPublisher) -> None:
    new_book(server, "full")
    grow = {
        "updateSheetProperties": {
            "properties": {"sheetId": 0, "gridProperties": {"rowCount": 384_615}},  # 9 999 990 cells
            "fields": "gridProperties.rowCount",
        }
    }
    requests.post(
        server.urls["sheets"] + "/v4/spreadsheets/full:batchUpdate",
        json={"requests": [grow]},
        headers={"Authorization": f"Bearer sa:{OWNER}"},
        timeout=10,
    ).raise_for_status()
    with pytest.raises(PublishError, match="over Google's limit of 10 000 000 cells: delete unused tabs"):
        publisher.publish("full", [stock_grid(3, WAREHOUSES)], {})
    assert [s["title"] for s in state(server, "full")["sheets"]] == ["Мои заметки"]


def test_an_empty_grid_is_refused_before_any_call(server: SandboxServer, publisher: SheetsPublisher) -> None:
    new_book(server, "b1")
    empty = build_grid(pl.DataFrame(), marketplace="wildberries")
    with pytest.raises(PublishError, match="Refusing to publish an empty Wildberries sheet"):
        publisher.publish("b1", [empty], {})
    assert calls(server) == []


def test_429_is_waited_out_and_retried(server: SandboxServer, publisher: SheetsPublisher) -> None:
    new_book(server, "b1")
    fault(server, endpoint="*", kind="429", count=3)
    grid = stock_grid(3, WAREHOUSES)
    publisher.publish("b1", [grid], {})
    assert calls(server) == [("GET", 429), ("GET", 429), ("GET", 429), ("GET", 200), ("POST", 200)]
    shows(tab(server, "b1", "Wildberries"), grid)


def test_credentials_never_reach_an_error(server: SandboxServer, app_url: str) -> None:
    new_book(server, "b1")
    secret = "ya29.a0AfB_byC-secret-access-token"
    wrong = SheetsPublisher(
        api_url=server.urls["sheets"],
        service_account_email=SA,
        access_token=secret,
        app_database_url=app_url,
        time_scale=SCALE,
    )
    with pytest.raises(PublishError, match="rejected the service account's credentials") as caught:
        wrong.publish("b1", [stock_grid(2, WAREHOUSES)], {})
    error = caught.value
    assert error.__cause__ is None and error.__context__ is None  # no request object chained
    assert secret not in repr(error) and secret not in str(error.args)


# --- the shared budget ----------------------------------------------------------------------------


def test_a_hundred_tenants_at_once_draw_no_429(server: SandboxServer, publisher: SheetsPublisher) -> None:
    tenants = 100
    for n in range(tenants):
        new_book(server, f"tenant-{n}")
    grids = [stock_grid(3 + n % 4, WAREHOUSES[: 1 + n % 3], seed=n) for n in range(tenants)]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=tenants) as pool:
        results = list(pool.map(lambda n: publisher.publish(f"tenant-{n}", [grids[n]], {}), range(tenants)))
    elapsed = time.monotonic() - started

    assert all(r.worksheets["Wildberries"].written for r in results)
    log = calls(server)
    assert len(log) == 2 * tenants and {status for _, status in log} == {200}
    # The sandbox holds Google's 60/min per user (time-scaled); the budget paced us under it:
    # 100 writes at 50/min with a burst of 10 need at least 90 / (50/60 × 100) ≈ 1.1 s.
    assert elapsed >= 90 / (50 / 60 * SCALE) * 0.9
    shows(tab(server, "tenant-99", "Wildberries"), grids[99])


# One process drawing tokens: a separate interpreter importing only the budget, as a Dagster run
# would. It says "ready", waits for "go" (so all processes contend at once), prints its stamps.
_GRAB = """
import json, sys, time
from resources.sheets_budget import DatabaseBudget
budget = DatabaseBudget(sys.argv[1], per_minute=60, burst=5, time_scale=60)  # 60 tokens/s
print("ready", flush=True)
sys.stdin.readline()
stamps = []
for _ in range(int(sys.argv[2])):
    budget.acquire(sys.argv[3])
    stamps.append(time.time())
print(json.dumps(stamps), flush=True)
"""


def _never_faster_than(stamps: list[float], rate: float, burst: int) -> None:
    stamps = sorted(stamps)
    for i in range(len(stamps)):
        for j in range(i, len(stamps)):
            # Grants in [t_i, t_j] ≤ burst + rate·(t_j − t_i), plus one for clock jitter and 0.1 s for
            # a worker descheduled between its grant and its time stamp on a loaded machine.
            assert j - i + 1 <= burst + rate * (stamps[j] - stamps[i] + 0.1) + 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_budget_is_shared_by_processes(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    migrate(url)
    engine_for(url).dispose()  # no pooled connection of this process is left holding anything
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _GRAB, url, "20", SA],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        for _ in range(3)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    stamps = [s for worker in workers for s in json.loads(worker.communicate(timeout=60)[0])]
    assert len(stamps) == 60
    _never_faster_than(stamps, rate=60.0, burst=5)
    assert max(stamps) - min(stamps) >= (60 - 5) / 60.0 * 0.9


def test_the_redis_budget_limits_every_caller_together(redis_url: str) -> None:
    budget = RedisBudget(redis_url, per_minute=10, time_scale=60)  # 10 per (scaled) minute = 1 s
    account = f"{uuid.uuid4().hex}-{SA}"  # the Redis may be shared with other test runs
    stamps: list[float] = []
    lock = threading.Lock()

    def draw() -> None:
        for _ in range(10):
            budget.acquire(account)
            with lock:
                stamps.append(time.time())

    threads = [threading.Thread(target=draw) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 30
    for i in range(len(stamps) - 10):
        assert stamps[i + 10] - stamps[i] >= 0.95  # never 11 in one window


def test_a_real_service_account_key_file_works_through_googles_own_session(
    server: SandboxServer, app_url: str, tmp_path: Path
) -> None:
    """The production path: a JSON key, google-auth's token exchange, AuthorizedSession."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_file = tmp_path / "key.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "st-prod",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": SA,
                "client_id": "1",
                "token_uri": server.urls["oauth2"] + "/token",
            }
        )
    )
    new_book(server, "b1")
    keyed = SheetsPublisher(
        api_url=server.urls["sheets"],
        service_account_file=str(key_file),
        app_database_url=app_url,
        time_scale=SCALE,
    )
    grid = stock_grid(3, WAREHOUSES)
    keyed.publish("b1", [grid], {})
    shows(tab(server, "b1", "Wildberries"), grid)

    new_book(server, "private", editors=[])
    with pytest.raises(PublishError, match=f"Share the spreadsheet with {SA} as an editor") as caught:
        keyed.publish("private", [grid], {})
    assert "PRIVATE KEY" not in repr(caught.value)

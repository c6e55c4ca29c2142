"""PostgreSQL (app database and warehouse) stopped and started in the middle of a sync: the sync
fails clean — the last good snapshot history and sheet stay as they were — and the next one
succeeds with nobody restarting anything but the database.

The server is the test's own (tests/api/test_database_restart.py), so stopping it disturbs nobody.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from cryptography.fernet import Fernet
from dagster import DagsterEventType, DagsterInstance

from assets.runs import SyncOutcome, run_sync
from definitions import build_definitions
from sandbox.generate import generate_scenario
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.test_database_restart import PrivatePostgres, private_pg  # noqa: F401 (fixture)
from warehouse.app_db import engine_for, migrate, session_factory
from warehouse.mart import Mart
from warehouse.tenants import active_tenants, create_tenant, store_credentials, update_settings
from warehouse.vault import CredentialVault

SERVICE_ACCOUNT = "stock-tracker@st-prod.iam.gserviceaccount.com"
BOOK = "book-restart"
pytestmark = pytest.mark.timeout(600)


def _history(url: str, tenant: str) -> dict[str, int]:
    mart = Mart(url, tenant)
    try:
        rows = mart.rows(
            "select snapshot_at, sum(available) filter (where warehouse_kind <> 'TRANSIT')"
            " from mart.stock_snapshot where tenant_id = $t group by 1 order by 1",
            {"t": tenant},
        )
    finally:
        mart.close()
    return {str(stamp): int(units) for stamp, units in rows}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    yield tmp_path


def test_a_database_restart_mid_sync_fails_it_clean_and_the_next_one_succeeds(
    private_pg: PrivatePostgres,  # noqa: F811
    home: Path,
) -> None:
    raw: dict[str, Any] = generate_scenario(sellers=1, skus=10, warehouses=4, days=10, seed=8)
    raw["spreadsheets"] = [{"id": BOOK, "owner": "seller@example.com", "editors": [SERVICE_ACCOUNT]}]
    seller = raw["sellers"][0]
    url = private_pg.url
    key = os.environ["STOCK_TRACKER_ENCRYPTION_KEYS"]
    with SandboxServer(parse_scenario(orjson.dumps(raw)), time_scale=1000.0) as server:
        settings = Settings(
            home=home,
            app_database_url=url,
            warehouse_url=url,
            encryption_keys=key,
            marketplace_time_scale=1000.0,
            google_service_account_email=SERVICE_ACCOUNT,
        ).sandbox_urls(server.urls)
        migrate(url)
        with session_factory(url)() as session:
            create_tenant(session, seller["name"], "Severnyi Len")
            store_credentials(
                session, CredentialVault([key]), seller["name"], "wildberries", seller["credentials"]
            )
            update_settings(session, seller["name"], spreadsheet_id=BOOK)
        defs = build_definitions(settings, retry_delay_seconds=0.05)
        control = server.control_url

        def sheet() -> dict[str, Any]:
            book = requests.get(f"{control}/sheets/spreadsheets/{BOOK}", timeout=30).json()
            return {tab["title"]: tab["values"] for tab in book["sheets"]}

        (home / "dagster").mkdir()
        with DagsterInstance.local_temp(str(home / "dagster")) as instance:

            def sync() -> SyncOutcome:
                with session_factory(url)() as session:
                    tenant = next(t for t in active_tenants(session) if t.id == seller["name"])
                return run_sync(defs, instance, tenant, "test")

            assert sync().success
            good_sheet, good_history = sheet(), _history(url, seller["name"])
            for stock in seller["stocks"]:
                stock["quantity"] += 2
            new_units = sum(s["quantity"] for s in seller["stocks"])
            requests.post(
                f"{control}/scenario?keep=sheets", data=orjson.dumps(raw), timeout=30
            ).raise_for_status()

            # The WB stock report answers after 3 s: the database goes down while the sync waits.
            requests.post(
                f"{control}/faults",
                json={"service": "wb_analytics", "endpoint": "*", "kind": "delay", "count": 1, "delay": 3},
                timeout=5,
            ).raise_for_status()
            requests.delete(f"{control}/requests", timeout=5)
            outcome: list[SyncOutcome | BaseException] = []

            def background() -> None:
                try:
                    outcome.append(sync())
                except BaseException as exc:  # the assertion below shows it
                    outcome.append(exc)

            worker = threading.Thread(target=background)
            worker.start()
            deadline = time.monotonic() + 120
            while not any(
                e["service"] == "wb_content" for e in requests.get(f"{control}/requests", timeout=5).json()
            ):
                assert time.monotonic() < deadline and worker.is_alive(), outcome
                time.sleep(0.05)
            private_pg.stop()
            worker.join(timeout=180)
            assert not worker.is_alive()
            private_pg.start()

            failed = outcome[0]
            assert isinstance(failed, SyncOutcome), failed  # a result, not a crash
            assert not failed.success
            assert failed.error
            # No hook of the run errored (the failed steps are reported to Sentry after the run).
            assert instance.all_logs(failed.run_id, of_type=DagsterEventType.HOOK_ERRORED) == []
            assert sheet() == good_sheet
            assert _history(url, seller["name"]) == good_history

            again = sync()
            assert again.success, again.error
            history = _history(url, seller["name"])
            assert len(history) == len(good_history) + 1
            assert list(history.values())[-1] == new_units
            assert sheet() != good_sheet
        print(
            f"\ndatabase restart mid-sync: failed clean ({failed.error[:160]}); history kept "
            f"({len(good_history)} snapshot), sheet kept; next sync succeeded → {len(history)} snapshots"
        )
    engine_for(url).dispose()

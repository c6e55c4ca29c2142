"""The fault matrix: every outside service × every fault kind the sandbox injects, one operation
per cell, and each cell recovers or fails clean — 0 partial sheets, 0 lost or duplicated rows.

* WB, Ozon, Sheets: one sync (DuckDB + SQLite, the embedded default) of a WB tenant (WB, Sheets)
  or an Ozon tenant (Ozon) with the fault on the next call: WB's stock report, Ozon's first call
  (the key check), the sheet's `batchUpdate`.
  The marketplace's stock changes before every cell, so a sync that got through shows it: a
  recovered cell adds exactly one snapshot holding every unit the marketplace reports and
  publishes the whole new grid. A failed one adds no snapshot, or (failing at the publish) that
  one whole snapshot; its sheet is the last good grid, or the whole new one when a write whose
  answer was lost had landed — never anything between. Older snapshots never change.
* Stripe: a checkout through the API for a new tenant (its Stripe customer is created on the
  way). A recovered cell answers 200; a failed one a 502 `billing_unavailable`, never a 500; the
  seller's next try succeeds, and the tenant has exactly one Stripe customer either way.
* Telegram: one report message to a linked chat through the one paced sender. A recovered cell
  delivers it; a failed one returns `failed`/`deferred` without raising (a sync never fails on
  Telegram) and the next try delivers it — never lost. Telegram has no idempotency key, so when
  its answer to an accepted message is garbled or cut, the next try sends a second copy (at least
  once); the table's last line counts those apart from data rows.

Client timeouts are set to 3 s (settings) so a `timeout` cell costs seconds, not minutes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from cryptography.fernet import Fernet
from dagster import DagsterInstance
from fastapi.testclient import TestClient

from api.main import create_app
from assets.runs import run_sync
from definitions import build_definitions
from resources.stripe_billing import StripeBilling
from resources.telegram_sender import BlockingTelegramSender
from sandbox.generate import generate_scenario
from sandbox.scenario import parse_scenario
from sandbox.server import SandboxServer
from sandbox.telegram.control import TelegramControl
from settings import Settings
from tests.api.conftest import JWT_SECRET, register
from warehouse.app_db import migrate, session_factory
from warehouse.mart import Mart
from warehouse.tenants import active_tenants, create_tenant, set_tier, store_credentials, update_settings
from warehouse.vault import CredentialVault

SERVICE_ACCOUNT = "stock-tracker@st-prod.iam.gserviceaccount.com"
WB_TENANT, OZON_TENANT = "seller-1-severnyi-len", "ozon-only"
SELLERS = {WB_TENANT: ("seller-1-severnyi-len", "wildberries"), OZON_TENANT: ("seller-2-urban-fox", "ozon")}
BOOKS = {WB_TENANT: "book-wb", OZON_TENANT: "book-ozon"}
STRIPE_KEY = "sk_test_faults"
BOT_TOKEN = "7000031:AAH" + "f" * 32
CHAT = 424242
TIMEOUT = 3.0
KINDS = {  # column → the sandbox's fault rule (sandbox/faults.py)
    "429": {"kind": "429"},
    "5xx": {"kind": "500"},
    "timeout": {"kind": "timeout", "delay": TIMEOUT + 1.5},
    "reset": {"kind": "reset"},
    "malformed": {"kind": "malformed"},
    "truncated": {"kind": "truncated"},
    "401": {"kind": "401"},
    "slow": {"kind": "delay", "delay": TIMEOUT / 2},
}
TARGETS = {
    "WB": {"service": "wb_analytics", "endpoint": "/api/analytics/v1/stocks-report/wb-warehouses"},
    "Ozon": {"service": "ozon", "endpoint": "*"},
    "Sheets": {"service": "sheets", "endpoint": "*:batchUpdate"},
    "Stripe": {"service": "stripe", "endpoint": "/v1/customers"},
    "Telegram": {"service": "telegram", "endpoint": "/sendMessage"},
}
pytestmark = pytest.mark.timeout(900)


class Matrix:
    def __init__(self, home: Path, server: SandboxServer, raw: dict[str, Any], key: str) -> None:
        self.server, self.raw, self.key = server, raw, key
        self.settings = Settings(
            home=home,
            app_database_url=f"sqlite:///{home}/app.db",
            warehouse_url=f"duckdb:///{home}/warehouse/{{tenant}}.duckdb",
            encryption_keys=key,
            jwt_secret=JWT_SECRET,
            marketplace_time_scale=1000.0,
            google_service_account_email=SERVICE_ACCOUNT,
            stripe_secret_key=STRIPE_KEY,
            rate_limit_auth="10000/minute",
            rate_limit_tenant="10000/minute",
            dagster_graphql_url="http://127.0.0.1:9/graphql",
            marketplace_read_timeout_seconds=TIMEOUT,
            sheets_timeout_seconds=TIMEOUT,
            stripe_timeout_seconds=TIMEOUT,
            telegram_bot_token=BOT_TOKEN,
        ).sandbox_urls(server.urls)
        self.defs = build_definitions(self.settings, retry_delay_seconds=0.05)

    def seller(self, tenant: str) -> dict[str, Any]:
        name, marketplace = SELLERS[tenant]
        return next(s for s in self.raw["sellers"] if (s["name"], s["marketplace"]) == (name, marketplace))

    def control(self, method: str, path: str, body: object = None) -> Any:
        answer = requests.request(method, self.server.control_url + path, json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def keys_valid(self, tenant: str) -> None:
        """A 401 cell leaves the key marked refused; the next cell starts from a valid key."""
        seller = self.seller(tenant)
        with session_factory(self.settings.app_database_url)() as session:
            store_credentials(
                session,
                CredentialVault([self.key]),
                tenant,
                seller["marketplace"],
                seller["credentials"],
                status="valid",
            )

    def restock(self, tenant: str) -> dict[str, int]:
        """Every stock row of the tenant's seller + 1; the units the marketplace now reports."""
        for stock in self.seller(tenant)["stocks"]:
            stock["quantity" if "quantity" in stock else "available"] += 1
        requests.post(
            self.server.control_url + "/scenario?keep=sheets", data=orjson.dumps(self.raw), timeout=30
        ).raise_for_status()
        return self.reported(tenant)

    def reported(self, tenant: str) -> dict[str, int]:
        seller = self.seller(tenant)
        field = "quantity" if seller["marketplace"] == "wildberries" else "available"
        return {seller["marketplace"]: sum(x[field] for x in seller["stocks"])}

    def sync(self, instance: DagsterInstance, tenant_id: str) -> bool:
        with session_factory(self.settings.app_database_url)() as session:
            tenant = next(t for t in active_tenants(session) if t.id == tenant_id)
        return run_sync(self.defs, instance, tenant, "test").success

    def history(self, tenant: str) -> tuple[dict[tuple[str, str], int], int]:
        """(snapshot time, marketplace) → units, and how many rows appear twice in a snapshot."""
        mart = Mart(self.settings.warehouse_url.replace("{tenant}", tenant), tenant)
        try:
            mart.ensure_schema()
            rows = mart.rows(
                "select snapshot_at, marketplace, count(*),"
                " count(distinct (item_id, warehouse_name, warehouse_kind)),"
                " sum(available) filter (where warehouse_kind <> 'TRANSIT')"
                " from mart.stock_snapshot where tenant_id = $t group by 1, 2 order by 1, 2",
                {"t": tenant},
            )
        finally:
            mart.close()
        return {(str(s), m): int(u) for s, m, _, _, u in rows}, sum(c - d for _, _, c, d, _ in rows)

    def sheet(self, tenant: str) -> dict[str, list[list[Any]]]:
        """The stock worksheets (the supply plan's worksheet is its own publish, checked elsewhere)."""
        book = self.control("GET", f"/sheets/spreadsheets/{BOOKS[tenant]}")
        return {tab["title"]: tab["values"] for tab in book["sheets"] if tab["title"] in STOCK_TABS}


STOCK_TABS = {"Wildberries": "wildberries", "Ozon": "ozon"}


def sheet_totals(sheet: dict[str, list[list[Any]]]) -> dict[str, int]:
    """Σ of the `Остатки (всего)` column (H) of each worksheet."""
    return {
        STOCK_TABS[title]: int(sum(row[7] or 0 for row in rows[2:] if len(row) > 7))
        for title, rows in sheet.items()
    }


@pytest.fixture
def matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", key)
    raw = generate_scenario(sellers=2, skus=6, warehouses=3, days=7, seed=31)
    raw["spreadsheets"] = [
        {"id": book, "owner": "seller@example.com", "editors": [SERVICE_ACCOUNT]} for book in BOOKS.values()
    ]
    with SandboxServer(parse_scenario(orjson.dumps(raw)), time_scale=1000.0) as server:
        m = Matrix(tmp_path, server, raw, key)
        migrate(m.settings.app_database_url)
        with session_factory(m.settings.app_database_url)() as session:
            for tenant, book in BOOKS.items():
                create_tenant(session, tenant, tenant.replace("-", " ").title())
                set_tier(session, tenant, "enterprise")
                update_settings(session, tenant, spreadsheet_id=book)
        for tenant in BOOKS:
            m.keys_valid(tenant)
        StripeBilling(api_url=m.settings.stripe_api_url, secret_key=STRIPE_KEY).setup_catalogue()
        (tmp_path / "dagster").mkdir()
        with DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
            yield m, instance


def test_every_service_and_fault_recovers_or_fails_clean(matrix: Any) -> None:
    m, instance = matrix
    for tenant in BOOKS:
        assert m.sync(instance, tenant)
        assert sheet_totals(m.sheet(tenant)) == m.reported(tenant)  # the check below tells a whole grid
    partial_sheets = lost_or_duplicated = 0
    table: dict[str, dict[str, str]] = {}
    seconds: Counter[str] = Counter()

    def sync_cell(service: str, kind: str) -> str:
        nonlocal partial_sheets, lost_or_duplicated
        tenant = OZON_TENANT if service == "Ozon" else WB_TENANT
        m.keys_valid(tenant)
        before_sheet, (before, _) = m.sheet(tenant), m.history(tenant)
        expected = m.restock(tenant)
        m.control("POST", "/faults", {**TARGETS[service], **KINDS[kind], "count": 1})
        ok = m.sync(instance, tenant)
        m.control("DELETE", "/faults")
        after_sheet, (after, twice) = m.sheet(tenant), m.history(tenant)
        lost_or_duplicated += twice
        added = {k: v for k, v in after.items() if k not in before}
        if any(after.get(k) != v for k, v in before.items()):
            lost_or_duplicated += 1  # an older snapshot changed
        # At most one new snapshot, holding every unit the marketplace reports — also when the
        # sync failed after the model was built (a publish that failed keeps the snapshot).
        if added and ({mp: u for (_, mp), u in added.items()} != expected or len(added) != len(expected)):
            lost_or_duplicated += 1
        if ok and not added:
            lost_or_duplicated += 1  # a sync that succeeded without its snapshot
        # The sheet: the last good grid or the whole new one (a write whose answer was lost may
        # have landed whole), never anything between.
        if after_sheet != before_sheet and sheet_totals(after_sheet) != expected:
            partial_sheets += 1
        if ok and after_sheet == before_sheet:
            partial_sheets += 1  # a sync that succeeded without publishing
        if ok:
            return "recovered"
        return "failed clean"

    client = TestClient(create_app(m.settings), raise_server_exceptions=False)

    def stripe_cell(kind: str) -> str:
        nonlocal lost_or_duplicated
        seller = register(client, name=f"Faults {kind}")
        m.control("POST", "/faults", {**TARGETS["Stripe"], **KINDS[kind], "count": 1})
        first = client.post("/api/v1/billing/checkout-session", json={"tier": "pro"}, headers=seller.auth)
        m.control("DELETE", "/faults")
        assert first.status_code in (200, 502), (kind, first.status_code, first.text)
        if first.status_code == 502:
            assert first.json()["error"]["code"] == "billing_unavailable", first.text
        again = client.post("/api/v1/billing/checkout-session", json={"tier": "pro"}, headers=seller.auth)
        assert again.status_code == 200, (kind, again.text)
        billing = StripeBilling(api_url=m.settings.stripe_api_url, secret_key=STRIPE_KEY)
        customers = [
            c
            for c in billing.client.v1.customers.list(params={"limit": 100}).auto_paging_iter()
            if c.metadata is not None and c.metadata.to_dict().get("tenant") == seller.tenant_id
        ]
        lost_or_duplicated += abs(len(customers) - 1)
        return "recovered" if first.status_code == 200 else "failed clean"

    telegram = TelegramControl(m.server.control_url, BOT_TOKEN)
    resent: dict[str, int] = {}
    telegram.add_chats([{"id": CHAT, "type": "private"}])

    def telegram_cell(kind: str) -> str:
        nonlocal lost_or_duplicated
        text = f"Отчёт {kind}: 12 товаров, 340 шт."
        m.control("POST", "/faults", {**TARGETS["Telegram"], **KINDS[kind], "count": 1})
        with BlockingTelegramSender.from_settings(m.settings) as sender:
            first = sender.send_message(CHAT, text)  # never raises: a sync goes on without Telegram
            m.control("DELETE", "/faults")
            if not first.sent:
                again = sender.send_message(CHAT, text)  # the next delivery attempt
                assert again.sent, (kind, again)
        copies = [
            c for c in telegram.sent(CHAT) if c["method"] == "sendMessage" and c["params"]["text"] == text
        ]
        lost_or_duplicated += len(copies) == 0  # a message is never lost
        # Telegram has no idempotency key: when its answer is lost or garbled after it accepted
        # the message, the next try sends it again (at least once, by design). Counted apart.
        resent[kind] = len(copies) - 1
        return "recovered" if first.sent else "failed clean"

    cells: dict[str, Callable[[str], str]] = {"Stripe": stripe_cell, "Telegram": telegram_cell}
    with client:
        for service in TARGETS:
            table[service] = {}
            for kind in KINDS:
                run: Callable[[], str] = (
                    (lambda s=service, k=kind: cells[s](k))
                    if service in cells
                    else (lambda s=service, k=kind: sync_cell(s, k))
                )
                started = time.perf_counter()
                table[service][kind] = run()
                seconds[service] += time.perf_counter() - started
                print(
                    f"cell {service} {kind}: {table[service][kind]} in {time.perf_counter() - started:.1f} s"
                )

    width = max(len(k) for k in KINDS) + 2
    lines = ["", "fault matrix (one operation per cell)"]
    lines.append("service  " + "".join(k.ljust(width + 2) for k in KINDS))
    for service, cells in table.items():
        lines.append(
            service.ljust(9)
            + "".join(cells[k].ljust(width + 2) for k in KINDS)
            + f"({seconds[service]:.0f} s)"
        )
    tally = Counter(v for cells in table.values() for v in cells.values())
    lines.append(
        f"{tally['recovered']} recovered, {tally['failed clean']} failed clean; "
        f"partial sheets: {partial_sheets}; lost or duplicated rows: {lost_or_duplicated}; "
        f"Telegram messages sent twice after a lost answer: {sum(resent.values())}"
    )
    print("\n".join(lines))
    assert partial_sheets == 0
    assert lost_or_duplicated == 0
    # Only a lost or unreadable answer can make a second copy; a refusal or a clean retry never does.
    assert all(n == 0 for kind, n in resent.items() if kind not in ("malformed", "truncated")), resent
    # A refused key is not retried; everything transient is.
    for service in ("WB", "Ozon", "Sheets"):
        assert table[service]["401"] == "failed clean", table

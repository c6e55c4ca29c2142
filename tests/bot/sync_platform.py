"""The report and alert tests' platform (the `platform` fixture, registered in conftest.py): the
sandbox (marketplaces, Sheets, Telegram), an app database with a WB seller and a WB + Ozon seller
(enterprise: no plan cut), a warehouse, Dagster definitions and an instance; `sync()` runs a
tenant's real sync through the Dagster job."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from cryptography.fernet import Fernet
from dagster import DagsterInstance, Definitions

from assets.runs import SyncOutcome, run_sync
from definitions import build_definitions
from sandbox.generate import generate_scenario
from sandbox.server import SandboxServer
from sandbox.telegram.control import TelegramControl
from settings import Settings
from warehouse.app_db import migrate, session_factory
from warehouse.stock_reads import StockReader
from warehouse.telegram_chats import link_chat, update_chat_settings
from warehouse.tenants import TenantInfo, active_tenants, create_tenant, store_credentials
from warehouse.vault import CredentialVault

SCALE = 1000.0
SERVICE_ACCOUNT = "stock-tracker@st-prod.iam.gserviceaccount.com"
WB_BOOK = "book-severnyi-len"  # the WB seller's spreadsheet, used once a test sets it on the tenant
BOT_TOKEN = "7000003:AAH" + "r" * 32
WB_SELLER = "seller-1-severnyi-len"
BOTH_SELLER = "seller-2-urban-fox"


def bot_scenario() -> dict[str, Any]:
    """Two sellers with little stock (a generated seller stocks for months; a report is about what
    runs out); the WB seller's first ordered product is out of stock where it was ordered."""
    scenario = generate_scenario(sellers=2, skus=60, warehouses=6, days=20, seed=11)
    for seller in scenario["sellers"]:
        for stock in seller["stocks"]:
            for field in ("quantity", "available"):
                if field in stock:
                    stock[field] //= 8
    wb = next(s for s in scenario["sellers"] if s["name"] == WB_SELLER)
    order = wb["orders"][0]
    nm_of = {size["chrt_id"]: p["nm_id"] for p in wb["products"] for size in p["sizes"]}
    sizes = [
        size["chrt_id"]
        for p in wb["products"]
        if p["nm_id"] == nm_of[order["chrt_id"]]
        for size in p["sizes"]
    ]
    for stock in wb["stocks"]:
        if stock["chrt_id"] in sizes and stock["warehouse_id"] == order["warehouse_id"]:
            stock["quantity"] = 0
    scenario["spreadsheets"] = [
        {
            "id": WB_BOOK,
            "owner": "seller@example.com",
            "editors": [SERVICE_ACCOUNT],
            "sheets": [{"title": "Мои заметки"}],
        }
    ]
    return scenario


@dataclass
class Platform:
    settings: Settings
    server: SandboxServer
    defs: Definitions
    instance: DagsterInstance
    scenario: dict[str, Any]

    def session(self) -> Any:
        return session_factory(self.settings.app_database_url)()

    def tenants(self) -> dict[str, TenantInfo]:
        with self.session() as session:
            return {t.id: t for t in active_tenants(session)}

    def sync(self, tenant: str, trigger: str = "manual") -> SyncOutcome:
        return run_sync(self.defs, self.instance, self.tenants()[tenant], trigger)

    def reader(self, tenant: str) -> StockReader:
        return StockReader(self.settings.warehouse_url, tenant)

    def load_scenario(self, scenario: dict[str, Any]) -> None:
        """Serve a changed scenario (the next sync sees the new stock)."""
        self.scenario = scenario
        requests.post(
            self.server.control_url + "/scenario", data=orjson.dumps(scenario), timeout=10
        ).raise_for_status()

    def changed(self) -> dict[str, Any]:
        return copy.deepcopy(self.scenario)

    def fault(self, **rule: Any) -> None:
        requests.post(self.server.control_url + "/faults", json=rule, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(self.server.control_url + "/faults", timeout=5).raise_for_status()

    @property
    def telegram(self) -> TelegramControl:
        return TelegramControl(self.server.control_url, BOT_TOKEN)

    def link(self, tenant: str, chat_id: int, **settings: Any) -> None:
        """A chat that started the bot and is linked to the tenant, with these chat settings."""
        self.telegram.add_chats([{"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}])
        with self.session() as session:
            link_chat(session, tenant, chat_id, kind="private" if chat_id > 0 else "supergroup")
            if settings:
                update_chat_settings(session, chat_id, **settings)

    def sent(self, chat_id: int) -> list[tuple[str, dict[str, Any]]]:
        """(method, params) of each call Telegram accepted in the chat, in order."""
        return [(c["method"], c["params"]) for c in self.telegram.sent(chat_id)]


@pytest.fixture(params=["embedded", "postgres"])
def platform(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", key)
    monkeypatch.setenv("STOCK_TRACKER_TELEGRAM_BOT_TOKEN", BOT_TOKEN)
    if request.param == "embedded":
        app_url = f"sqlite:///{tmp_path}/app.db"
        warehouse_url = f"duckdb:///{tmp_path}/warehouse/{{tenant}}.duckdb"
    else:
        app_url = warehouse_url = request.getfixturevalue("pg_url")
    scenario = bot_scenario()
    with SandboxServer(scenario, time_scale=SCALE) as server:  # type: ignore[arg-type]
        settings = Settings(
            home=tmp_path,
            app_database_url=app_url,
            warehouse_url=warehouse_url,
            encryption_keys=key,
            marketplace_time_scale=SCALE,
            output_dir=tmp_path / "out",
            jwt_secret="bot-platform-jwt-secret-" + "x" * 40,
            google_service_account_email=SERVICE_ACCOUNT,
        ).sandbox_urls(server.urls)
        migrate(settings.app_database_url)
        vault = CredentialVault([key])
        with session_factory(settings.app_database_url)() as session:
            for seller in scenario["sellers"]:
                if seller["marketplace"] == "wildberries":
                    create_tenant(
                        session, seller["name"], seller["name"].replace("-", " ").title(), tier="enterprise"
                    )
                store_credentials(
                    session,
                    vault,
                    seller["name"],
                    seller["marketplace"],
                    seller["credentials"],
                    status="valid",
                )
        defs = build_definitions(settings, retry_delay_seconds=0.05)
        (tmp_path / "dagster").mkdir()
        with DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
            yield Platform(settings, server, defs, instance, scenario)

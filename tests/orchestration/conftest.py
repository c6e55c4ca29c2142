"""A whole platform for orchestration tests: sandbox marketplaces, app database with two tenants
(WB only; WB + Ozon) and their encrypted keys, a warehouse, Dagster definitions and an instance."""

from __future__ import annotations

from collections import Counter
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
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer
from settings import Settings
from warehouse.app_db import migrate, session_factory
from warehouse.mart import Mart
from warehouse.tenants import TenantInfo, active_tenants, create_tenant, store_credentials
from warehouse.vault import CredentialVault

SCALE = 1000.0


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    raw = generate_scenario(sellers=2, skus=40, warehouses=8, days=20, seed=21)
    return parse_scenario(orjson.dumps(raw))


@dataclass
class Platform:
    settings: Settings
    server: SandboxServer
    defs: Definitions
    instance: DagsterInstance
    scenario: Scenario
    key: str

    def session(self) -> Any:
        return session_factory(self.settings.app_database_url)()

    def tenants(self) -> dict[str, TenantInfo]:
        with self.session() as session:
            return {t.id: t for t in active_tenants(session)}

    def sync(self, tenant: str, trigger: str = "manual") -> SyncOutcome:
        return run_sync(self.defs, self.instance, self.tenants()[tenant], trigger)

    def mart(self, tenant: str) -> Mart:
        mart = Mart(self.settings.warehouse_url.replace("{tenant}", tenant), tenant)
        mart.ensure_schema()
        return mart

    def fault(self, **rule: Any) -> None:
        requests.post(self.server.control_url + "/faults", json=rule, timeout=5).raise_for_status()

    def sellers(self, tenant: str) -> list[dict[str, Any]]:
        return [s for s in self.scenario["sellers"] if s["name"] == tenant]  # type: ignore[misc]


def expected_units(sellers: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    totals: Counter[tuple[str, str, str]] = Counter()
    for seller in sellers:
        kinds = {
            w["id"]: (w["name"], "FBO" if w["kind"] == "marketplace" else "FBS") for w in seller["warehouses"]
        }
        field = "quantity" if seller["marketplace"] == "wildberries" else "available"
        for stock in seller["stocks"]:
            name, kind = kinds[stock["warehouse_id"]]
            totals[(seller["marketplace"], name, kind)] += stock[field]
    return +totals


def snapshot_units(mart: Mart) -> Counter[tuple[str, str, str]]:
    rows = mart.rows(
        "select marketplace, warehouse_name, warehouse_kind, sum(available) from mart.stock_snapshot s "
        "where tenant_id = $t and warehouse_kind <> 'TRANSIT' and snapshot_at = (select max(snapshot_at) "
        "from mart.stock_snapshot x where x.tenant_id = s.tenant_id and x.marketplace = s.marketplace) "
        "group by 1, 2, 3",
        {"t": mart.tenant},
    )
    return +Counter({(m, n, k): int(u) for m, n, k, u in rows})


@pytest.fixture(params=["embedded", "postgres"])
def platform(
    request: pytest.FixtureRequest, scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", key)
    if request.param == "embedded":
        app_url, warehouse_url = (
            f"sqlite:///{tmp_path}/app.db",
            f"duckdb:///{tmp_path}/warehouse/{{tenant}}.duckdb",
        )
    else:
        app_url = warehouse_url = request.getfixturevalue("pg_url")
    with SandboxServer(scenario, time_scale=SCALE) as server:
        settings = Settings(
            home=tmp_path,
            app_database_url=app_url,
            warehouse_url=warehouse_url,
            encryption_keys=key,
            marketplace_time_scale=SCALE,
        ).sandbox_urls(server.urls)
        migrate(settings.app_database_url)
        vault = CredentialVault([key])
        with session_factory(settings.app_database_url)() as session:
            for seller in scenario["sellers"]:
                if seller["marketplace"] == "wildberries":
                    create_tenant(session, seller["name"], seller["name"].replace("-", " ").title())
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
            yield Platform(settings, server, defs, instance, scenario, key)

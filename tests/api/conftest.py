"""The API over real HTTP semantics (Starlette's TestClient drives the ASGI app) against one real
PostgreSQL database per test session with the migrations applied, sandbox marketplaces, and a
warehouse per test (a DuckDB file per tenant, or the PostgreSQL mart).

Tenants are registered through the API with unique emails, so tests share the database the way
sellers share production: every isolation test runs with other tenants' rows present.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from api.logs import JsonFormatter
from api.main import create_app
from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer
from settings import Settings
from warehouse.app_db import engine_for, migrate
from warehouse.mart import Mart

SCALE = 1000.0
PASSWORD = "correct horse battery"
JWT_SECRET = "test-jwt-secret-" + "x" * 40
FERNET_KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def app_db(admin_url: str) -> Iterator[str]:
    """One migrated PostgreSQL database for the API tests; dropped at the end."""
    name = f"st_api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    try:
        migrate(url)
        yield url
    finally:
        engine_for(url).dispose()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    raw = generate_scenario(sellers=2, skus=12, warehouses=4, days=10, seed=5)
    return parse_scenario(orjson.dumps(raw))


@pytest.fixture(scope="session")
def sandbox(scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(scenario, time_scale=SCALE) as server:
        yield server


def make_settings(home: Path, app_db: str, sandbox: SandboxServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "app_database_url": app_db,
        "warehouse_url": f"duckdb:///{home}/warehouse/{{tenant}}.duckdb",
        "encryption_keys": FERNET_KEY,
        "jwt_secret": JWT_SECRET,
        "marketplace_time_scale": SCALE,
        # Nothing listens there: tests that need Dagster start one (test_sync.py).
        "dagster_graphql_url": "http://127.0.0.1:9/graphql",
        "rate_limit_auth": "10000/minute",
        "rate_limit_tenant": "10000/minute",
        **overrides,
    }
    return Settings(**values).sandbox_urls(sandbox.urls)


@pytest.fixture
def settings(tmp_path: Path, app_db: str, sandbox: SandboxServer) -> Settings:
    return make_settings(tmp_path, app_db, sandbox)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class Seller:
    """A tenant registered through the API, with its owner's tokens."""

    email: str
    password: str
    tenant_id: str
    user_id: int
    access: str
    refresh: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def register(client: TestClient, name: str = "ООО Ромашка", **extra: Any) -> Seller:
    email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
    response = client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "tenant_name": name, **extra}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Seller(
        email,
        PASSWORD,
        body["user"]["tenant_id"],
        body["user"]["id"],
        body["access_token"],
        body["refresh_token"],
    )


def add_member(client: TestClient, owner: Seller, role: str) -> Seller:
    """A user of the owner's tenant with `role`, signed in."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    created = client.post(
        "/api/v1/tenants/me/users",
        json={"email": email, "password": PASSWORD, "role": role},
        headers=owner.auth,
    )
    assert created.status_code == 201, created.text
    tokens = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    return Seller(
        email,
        PASSWORD,
        owner.tenant_id,
        created.json()["id"],
        tokens["access_token"],
        tokens["refresh_token"],
    )


@pytest.fixture
def seller(client: TestClient) -> Seller:
    return register(client)


@pytest.fixture
def other(client: TestClient) -> Seller:
    return register(client, "Other Shop")


# --- the stock model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One product × warehouse of the current model."""

    product_id: int
    warehouse: str
    stock: int
    orders: int = 0
    kind: str = "FBO"
    marketplace: str = "wildberries"
    article: str = ""
    brand: str = "Brand"
    title: str = "Title"
    to_client: int = 0
    from_client: int = 0


def seed_stock(settings: Settings, tenant_id: str, rows: list[Row], window_days: int = 7) -> None:
    """Write a current snapshot and its metrics into the tenant's mart, and two older snapshots."""
    url = settings.warehouse_url.replace("{tenant}", tenant_id)
    mart = Mart(url, tenant_id)
    mart.ensure_schema()
    mart.close()
    now = datetime.now(UTC).replace(microsecond=0)
    metrics, snapshots = [], []
    for r in rows:
        article = r.article or f"ART-{r.product_id}"
        cover = round(r.stock * window_days / r.orders, 1) if r.orders else None
        metrics.append(
            (tenant_id, r.marketplace, now, window_days, r.product_id, article, r.brand, "Subject", r.title,
             r.warehouse, r.kind, r.stock, r.to_client, r.from_client, r.orders, cover)
        )  # fmt: skip
        for age, units in ((2, r.stock + 5), (1, r.stock + 2), (0, r.stock)):
            snapshots.append(
                (tenant_id, r.marketplace, now - timedelta(days=age), r.product_id, r.product_id, "0",
                 article, r.brand, "Subject", r.title, r.warehouse, r.kind, units, r.to_client,
                 r.from_client)
            )  # fmt: skip
    metric_sql = "insert into mart.stock_metrics values (" + ", ".join(["%s"] * 16) + ")"
    snapshot_sql = "insert into mart.stock_snapshot values (" + ", ".join(["%s"] * 15) + ")"
    if url.startswith("duckdb:///"):
        import duckdb

        with duckdb.connect(url.removeprefix("duckdb:///")) as conn:
            conn.executemany(metric_sql.replace("%s", "?"), metrics)
            conn.executemany(snapshot_sql.replace("%s", "?"), snapshots)
    else:
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            cursor.executemany(metric_sql, metrics)
            cursor.executemany(snapshot_sql, snapshots)


# --- logs --------------------------------------------------------------------------------------


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Everything logged during the test, as the API's JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

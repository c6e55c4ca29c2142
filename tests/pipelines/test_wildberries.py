"""The Wildberries source against the sandbox: complete, idempotent, paced, and loud on failure."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from pipelines.destination import tenant_pipeline
from pipelines.http_policy import HttpPolicy
from pipelines.runner import SyncError, run_source
from pipelines.wildberries import wildberries_source
from pipelines.wildberries.helpers import WbUrls
from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer
from sandbox.wb.tokens import make_token

SCALE = 1000.0
TRANSIENT = ("429", "500", "502", "503", "timeout", "reset", "truncated", "malformed", "delay")
WB_SERVICES = ("wb_content", "wb_analytics", "wb_statistics", "wb_marketplace", "wb_common")
MAIN_ENDPOINTS = [
    ("wb_analytics", "/ping"),
    ("wb_content", "/content/v2/get/cards/list"),
    ("wb_analytics", "/api/analytics/v1/stocks-report/wb-warehouses"),
    ("wb_analytics", "/api/analytics/v1/stocks-report/seller-warehouses"),
    ("wb_analytics", "/api/analytics/v1/order-feed"),
]
# Reached when WB refuses the 2026 reports to a Base token.
FALLBACK_ENDPOINTS = [
    ("wb_analytics", "/api/v1/warehouse_remains"),
    ("wb_analytics", "/api/v1/warehouse_remains/tasks/*/status"),
    ("wb_analytics", "/api/v1/warehouse_remains/tasks/*/download"),
    ("wb_marketplace", "/api/v3/warehouses"),
    ("wb_marketplace", "/api/v3/stocks/*"),
]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    raw = generate_scenario(sellers=1, skus=120, warehouses=15, days=20, seed=11)
    return parse_scenario(orjson.dumps(raw))


@pytest.fixture
def server(scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(scenario, time_scale=SCALE) as running:
        yield running


def seller_of(scenario: Scenario) -> dict[str, Any]:
    return scenario["sellers"][0]  # type: ignore[return-value]


class Loader:
    def __init__(self, server: SandboxServer, warehouse_url: str, workdir: Path, token: str) -> None:
        self.server, self.warehouse_url, self.workdir, self.token = server, warehouse_url, workdir, token
        self.policy = HttpPolicy(time_scale=SCALE, read_timeout=1.0, backoff_initial=0.5)

    def pipeline(self) -> Any:
        return tenant_pipeline("acme-shop", "wildberries", self.warehouse_url, self.workdir / "pipelines")

    def load(self, snapshot_at: datetime | None = None) -> Any:
        at = snapshot_at or datetime.now(UTC)
        urls = WbUrls.from_sandbox(self.server.urls)
        return run_source(
            self.pipeline(), lambda: wildberries_source(self.token, "acme-shop", at, urls, 30, self.policy)
        )

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.pipeline().sql_client() as client:
            return [tuple(r) for r in client.execute_sql(sql)]

    def counts(self) -> dict[str, Any]:
        return {
            "products": self.query("select count(*) from wb_products")[0][0],
            "stock": self.query("select count(*) from wb_stock")[0][0],
            "orders": self.query("select count(*) from wb_orders")[0][0],
            "snapshots": self.query("select count(distinct snapshot_at) from wb_stock")[0][0],
            "units": self.query("select sum(quantity) from wb_stock")[0][0],
        }

    def fault(self, service: str, endpoint: str, kind: str, **extra: Any) -> None:
        rule = {"service": service, "endpoint": endpoint, "kind": kind, **extra}
        requests.post(self.server.control_url + "/faults", json=rule, timeout=5).raise_for_status()


@pytest.fixture(params=["duckdb", "postgres"])
def loader(
    request: pytest.FixtureRequest, server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> Loader:
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    else:
        url = request.getfixturevalue("pg_url")
    return Loader(server, url, tmp_path, seller_of(scenario)["credentials"]["token"])


def expected_stock(seller: dict[str, Any]) -> Counter[tuple[str, str]]:
    kinds = {
        w["id"]: ("FBO" if w["kind"] == "marketplace" else "FBS", w["name"]) for w in seller["warehouses"]
    }
    totals: Counter[tuple[str, str]] = Counter()
    for stock in seller["stocks"]:
        totals[kinds[stock["warehouse_id"]]] += stock["quantity"]
    return +totals


def loaded_stock(loader: Loader) -> Counter[tuple[str, str]]:
    rows = loader.query(
        "select warehouse_kind, warehouse_name, sum(quantity) from wb_stock "
        "where snapshot_at = (select max(snapshot_at) from wb_stock) and warehouse_kind <> 'TRANSIT' "
        "group by 1, 2"
    )
    return +Counter({(kind, name): int(total) for kind, name, total in rows})


def assert_equals_scenario(loader: Loader, seller: dict[str, Any]) -> None:
    assert loader.query("select count(*) from wb_products")[0][0] == sum(
        len(p["sizes"]) for p in seller["products"]
    )
    assert loaded_stock(loader) == expected_stock(seller)
    kept = loader.query("select count(*) from wb_orders where not cancelled")[0][0]
    assert kept == sum(1 for o in seller["orders"] if not o["cancelled"])
    assert loader.query("select count(*) from wb_orders")[0][0] == len(seller["orders"])
    tenants = loader.query("select distinct tenant_id, marketplace from wb_stock")
    assert tenants == [("acme-shop", "wildberries")]


def test_full_load_equals_scenario_and_reload_changes_no_counts(loader: Loader, scenario: Scenario) -> None:
    seller = seller_of(scenario)
    at = datetime.now(UTC).replace(microsecond=0)
    result = loader.load(at)
    assert result.rows["wb_stock"] > 0
    assert_equals_scenario(loader, seller)
    first = loader.counts()

    loader.load(at)  # the same snapshot again: merge keeps one copy of everything
    assert loader.counts() == first

    loader.load(at + timedelta(minutes=10))  # a new snapshot: history grows, facts do not
    later = loader.counts()
    assert later["products"] == first["products"] and later["orders"] == first["orders"]
    assert later["snapshots"] == 2 and later["stock"] == 2 * first["stock"]
    assert_equals_scenario(loader, seller)


def test_aggregated_warehouses_are_kept_as_named(
    loader: Loader, scenario: Scenario, server: SandboxServer
) -> None:
    requests.post(server.control_url + "/settings", json={"wb_warehouse_mode": "aggregated"}, timeout=5)
    loader.load()
    fbo_names = {
        r[0] for r in loader.query("select distinct warehouse_name from wb_stock where warehouse_kind='FBO'")
    }
    assert fbo_names == {"Склад WB"}
    seller = seller_of(scenario)
    fbo_units = sum(n for (kind, _), n in expected_stock(seller).items() if kind == "FBO")
    assert loader.query("select sum(quantity) from wb_stock where warehouse_kind='FBO'")[0][0] == fbo_units
    order_names = {
        r[0] for r in loader.query("select distinct warehouse_name from wb_orders where warehouse_kind='FBO'")
    }
    assert order_names == {"Склад WB"}


@pytest.mark.parametrize("kind", TRANSIENT)
def test_transient_faults_on_every_endpoint_end_in_a_complete_load(
    kind: str, server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> None:
    seller = seller_of(scenario)
    loader = Loader(server, f"duckdb:///{tmp_path}/w.duckdb", tmp_path, seller["credentials"]["token"])
    extra = {"delay": 3.0} if kind == "timeout" else {"delay": 0.2} if kind == "delay" else {}
    for service, endpoint in MAIN_ENDPOINTS:
        loader.fault(service, endpoint, kind, count=1, **extra)
    loader.load()
    assert_equals_scenario(loader, seller)
    log = requests.get(server.control_url + "/requests", timeout=5).json()
    assert sum(1 for e in log if e.get("fault") == kind) == len(MAIN_ENDPOINTS)


@pytest.fixture
def base_token(server: SandboxServer, scenario: Scenario) -> str:
    """A Base token (acc=1) for the same seller: WB refuses it the 2026 stock reports."""
    token = make_token(random.Random(3), token_type=1)
    server.state.wb_accounts[token] = server.state.wb_accounts[seller_of(scenario)["credentials"]["token"]]
    return token


@pytest.mark.parametrize("kind", ["429", "503", "reset", "malformed"])
def test_fallback_endpoints_survive_transient_faults(
    kind: str, server: SandboxServer, scenario: Scenario, tmp_path: Path, base_token: str
) -> None:
    loader = Loader(server, f"duckdb:///{tmp_path}/w.duckdb", tmp_path, base_token)
    for service, endpoint in FALLBACK_ENDPOINTS:
        loader.fault(service, endpoint, kind, count=1)
    loader.load()
    seller = seller_of(scenario)
    assert loaded_stock(loader) == expected_stock(seller)
    # Transit comes from the report's pseudo-rows, per size.
    transit = loader.query("select sum(in_way_to_client) from wb_stock")[0][0]
    assert transit == sum(s.get("in_way_to_client", 0) for s in seller["stocks"])
    paths = {e["path"] for e in requests.get(server.control_url + "/requests", timeout=5).json()}
    assert "/api/v1/warehouse_remains" in paths and "/api/v3/warehouses" in paths


@pytest.mark.parametrize("target", MAIN_ENDPOINTS + FALLBACK_ENDPOINTS, ids=lambda t: t[1])
def test_persistent_fault_fails_loudly_and_keeps_the_previous_load(
    target: tuple[str, str], server: SandboxServer, scenario: Scenario, tmp_path: Path, base_token: str
) -> None:
    seller = seller_of(scenario)
    token = base_token if target in FALLBACK_ENDPOINTS else seller["credentials"]["token"]
    loader = Loader(server, f"duckdb:///{tmp_path}/w.duckdb", tmp_path, token)
    loader.policy.max_attempts = 3
    loader.load(datetime.now(UTC) - timedelta(hours=1))
    before = loader.counts()
    loader.fault(*target, "500", fraction=1.0)
    with pytest.raises(SyncError) as failure:
        loader.load()
    message = str(failure.value)
    assert "HTTP 500" in message and ("WB" in message)
    assert seller["credentials"]["token"] not in message
    assert loader.counts() == before
    assert loaded_stock(loader) == expected_stock(seller)


def test_token_without_analytics_is_refused_naming_the_category(
    server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> None:
    token = make_token(random.Random(8), ("content", "statistics", "marketplace"))
    server.state.wb_accounts[token] = server.state.wb_accounts[seller_of(scenario)["credentials"]["token"]]
    loader = Loader(server, f"duckdb:///{tmp_path}/w.duckdb", tmp_path, token)
    with pytest.raises(SyncError, match="Аналитика"):
        loader.load()


def test_revoked_key_fails_without_a_retry_storm(
    server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> None:
    loader = Loader(
        server, f"duckdb:///{tmp_path}/w.duckdb", tmp_path, seller_of(scenario)["credentials"]["token"]
    )
    for service in WB_SERVICES:
        loader.fault(service, "*", "401", fraction=1.0)
    with pytest.raises(SyncError, match="refused"):
        loader.load()
    assert len(requests.get(server.control_url + "/requests", timeout=5).json()) == 1


def test_a_1000_sku_sync_draws_no_429_and_minimal_requests(tmp_path: Path) -> None:
    raw = generate_scenario(sellers=1, skus=1000, warehouses=40, days=30, seed=5)
    scenario = parse_scenario(orjson.dumps(raw))
    seller = seller_of(scenario)
    with SandboxServer(scenario, time_scale=200.0) as server:
        loader = Loader(server, f"duckdb:///{tmp_path}/w.duckdb", tmp_path, seller["credentials"]["token"])
        loader.policy.time_scale = 200.0
        loader.load()
        log = requests.get(server.control_url + "/requests", timeout=5).json()
    assert not [e for e in log if e["status"] == 429]
    # The supply guard's warehouse_remains report: one task, polled until done, downloaded once.
    remains = Counter(
        e["path"].split("/tasks/")[-1].split("/")[-1] for e in log if "warehouse_remains" in e["path"]
    )
    assert remains["warehouse_remains"] == 1 and remains["download"] == 1
    per_endpoint = Counter(e["path"] for e in log if "warehouse_remains" not in e["path"])
    in_window = len(seller["orders"])  # the scenario's 30 days all fall in the 30-day window
    assert per_endpoint == {
        "/ping": 4,
        "/content/v2/get/cards/list": len(seller["products"]) // 100 + 1,
        "/api/analytics/v1/stocks-report/wb-warehouses": 1,
        "/api/analytics/v1/stocks-report/seller-warehouses": 1,
        "/api/analytics/v1/order-feed": in_window // 1000 + 1,
    }


def test_a_late_arriving_page_does_not_crowd_the_next_one_into_a_429(tmp_path: Path) -> None:
    """WB books a request when it arrives. The first order-feed page is held on its way in (a busy
    network or machine) for two thirds of the one-a-minute interval; the next page must still arrive
    a full interval later, not one interval after the first was sent."""
    raw = generate_scenario(sellers=1, skus=1000, warehouses=10, days=30, seed=5)
    scenario = parse_scenario(orjson.dumps(raw))
    seller = seller_of(scenario)
    assert len(seller["orders"]) > 2000  # the window is three pages of the feed
    with SandboxServer(scenario, time_scale=200.0) as server:  # one page every 0.3 s
        loader = Loader(server, f"duckdb:///{tmp_path}/w.duckdb", tmp_path, seller["credentials"]["token"])
        loader.policy.time_scale = 200.0
        loader.fault("wb_analytics", "/api/analytics/v1/order-feed", "delay", count=1, delay=0.2)
        loader.load()
        log = requests.get(server.control_url + "/requests", timeout=5).json()
    feed = [e for e in log if e["path"] == "/api/analytics/v1/order-feed"]
    assert [e["status"] for e in feed] == [200] * (len(seller["orders"]) // 1000 + 1)
    assert loader.counts()["orders"] == len(seller["orders"])


def test_later_syncs_read_only_the_orders_that_changed(tmp_path: Path) -> None:
    """WB allows one order-feed page a minute: a sync after the first reads the feed down to the
    last load's newest change (one page here, not the window's 3), and still gets what changed."""
    raw = generate_scenario(sellers=1, skus=1000, warehouses=10, days=30, seed=5)
    scenario = parse_scenario(orjson.dumps(raw))
    seller = seller_of(scenario)
    assert len(seller["orders"]) > 2000  # the window is three pages of the feed
    with SandboxServer(scenario, time_scale=200.0) as server:
        loader = Loader(server, f"duckdb:///{tmp_path}/w.duckdb", tmp_path, seller["credentials"]["token"])
        loader.policy.time_scale = 200.0
        loader.policy.read_timeout = 30.0  # a slow CI machine must not retry a page and count it twice

        def feed_pages() -> int:
            log = requests.get(server.control_url + "/requests", timeout=5).json()
            requests.delete(server.control_url + "/requests", timeout=5).raise_for_status()
            feed = "/api/analytics/v1/order-feed"
            return sum(1 for e in log if e["path"] == feed and e["status"] == 200)  # not retries

        loader.load()
        assert feed_pages() == len(seller["orders"]) // 1000 + 1
        before = loader.counts()["orders"]

        # Two orders arrive two minutes before the scenario's clock, one of them since cancelled.
        template = raw["sellers"][0]["orders"][0]
        placed = (datetime.fromisoformat(raw["clock"]) - timedelta(minutes=2)).isoformat()
        for n, cancelled in enumerate((False, True)):
            order = {**template, "id": f"new-order-{n}", "at": placed, "cancelled": cancelled}
            raw["sellers"][0]["orders"].append(order)
        requests.post(server.control_url + "/scenario", data=orjson.dumps(raw), timeout=30).raise_for_status()
        loader.load()
        assert feed_pages() == 1
        assert loader.counts()["orders"] == before + 2
        new = "select srid, cancelled from wb_orders where srid like 'new-order-%' order by srid"
        rows = loader.query(new)
        assert rows == [("new-order-0", False), ("new-order-1", True)]


def test_warehouse_remains_loads_per_product_for_the_supply_guard(loader: Loader, scenario: Scenario) -> None:
    """The guard's input: per nmID, every warehouse_remains line, WB's own total among them."""
    seller = seller_of(scenario)
    loader.load()
    rows = loader.query("select nm_id, line, quantity from wb_remains")
    total = {nm: q for nm, line, q in rows if line == "Всего находится на складах"}
    pseudo = {
        "Всего находится на складах",
        "В пути до получателей",
        "В пути возвраты на склад WB",
        "Остальные",
    }
    named: Counter[int] = Counter()
    for nm, line, q in rows:
        if line not in pseudo:
            named[nm] += q
    assert total and total == dict(named)
    marketplace = {w["id"] for w in seller["warehouses"] if w["kind"] == "marketplace"}
    nm_of = {s["chrt_id"]: p["nm_id"] for p in seller["products"] for s in p["sizes"]}
    expected: Counter[int] = Counter()
    for stock in seller["stocks"]:
        if stock["warehouse_id"] in marketplace:
            expected[nm_of[stock["chrt_id"]]] += stock["quantity"]
    assert total == dict(+expected)

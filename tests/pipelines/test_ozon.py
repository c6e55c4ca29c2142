"""The Ozon source against the sandbox: complete, idempotent, paced, and loud on failure."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
import requests

from pipelines.destination import tenant_pipeline
from pipelines.http_policy import HttpPolicy, MarketplaceError
from pipelines.ozon import ozon_source
from pipelines.ozon import settings as S
from pipelines.ozon.helpers import OzonClient, OzonUrls
from pipelines.runner import SyncError, run_source
from pipelines.wildberries import wildberries_source
from pipelines.wildberries.helpers import WbUrls
from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer
from warehouse.mart import Mart, order_window
from warehouse.sheet_layout import FBS_SUFFIX, INFO_COLUMNS, TOTAL_COLUMNS, SheetGrid, build_grid

SCALE = 1000.0
TENANT = "acme-shop"
TRANSIENT = ("429", "500", "502", "503", "timeout", "reset", "truncated", "malformed", "delay")
MAIN_ENDPOINTS = [
    "/v3/product/list",
    "/v3/product/info/list",
    "/v4/product/info/attributes",
    "/v1/description-category/tree",
    "/v4/product/info/stocks",
    "/v1/analytics/stocks",
    "/v1/cluster/list",
    "/v2/warehouse/list",
    "/v1/product/info/warehouse/stocks",
    "/v1/analytics/turnover/stocks",
    "/v2/posting/fbo/list",
    "/v3/posting/fbs/list",
]
# Reached when Ozon has switched off /v1/analytics/stocks and /v1/product/info/warehouse/stocks.
FALLBACK_ENDPOINTS = ["/v2/analytics/stock_on_warehouses", "/v2/product/info/stocks-by-warehouse/fbs"]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    raw = generate_scenario(sellers=2, skus=120, warehouses=15, days=20, seed=11)
    return parse_scenario(orjson.dumps(raw))


@pytest.fixture
def server(scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(scenario, time_scale=SCALE) as running:
        yield running


def seller_of(scenario: Scenario) -> dict[str, Any]:
    return next(s for s in scenario["sellers"] if s["marketplace"] == "ozon")  # type: ignore[return-value]


@pytest.fixture
def switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ozon stops serving the preferred stock methods: the sandbox answers unknown methods with
    Ozon's own 404 (code 5, "Not found"), as the real gateway does for switched-off ones."""
    monkeypatch.setattr(S, "ANALYTICS_STOCKS", S.ANALYTICS_STOCKS + "-switched-off")
    monkeypatch.setattr(S, "WAREHOUSE_STOCKS", S.WAREHOUSE_STOCKS + "-switched-off")


class Loader:
    def __init__(
        self, server: SandboxServer, warehouse_url: str, workdir: Path, seller: dict[str, Any]
    ) -> None:
        self.server, self.warehouse_url, self.workdir = server, warehouse_url, workdir
        self.client_id = seller["credentials"]["client_id"]
        self.api_key = seller["credentials"]["api_key"]
        self.policy = HttpPolicy(time_scale=SCALE, read_timeout=1.0, backoff_initial=0.5)

    def pipeline(self) -> Any:
        return tenant_pipeline(TENANT, "ozon", self.warehouse_url, self.workdir / "pipelines")

    def load(self, snapshot_at: datetime | None = None) -> Any:
        at = snapshot_at or datetime.now(UTC)
        urls = OzonUrls.from_sandbox(self.server.urls)
        return run_source(
            self.pipeline(),
            lambda: ozon_source(self.client_id, self.api_key, TENANT, at, urls, 30, self.policy),
        )

    def client(self) -> OzonClient:
        return OzonClient(self.client_id, self.api_key, OzonUrls.from_sandbox(self.server.urls), self.policy)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.pipeline().sql_client() as client:
            return [tuple(r) for r in client.execute_sql(sql)]

    def counts(self) -> dict[str, Any]:
        one = lambda sql: self.query(sql)[0][0]  # noqa: E731
        return {
            "products": one("select count(*) from ozon_products"),
            "attributes": one("select count(*) from ozon_product_attributes"),
            "types": one("select count(*) from ozon_category_tree"),
            "stock": one("select count(*) from ozon_stock"),
            "by_scheme": one("select count(*) from ozon_stock_by_scheme"),
            "turnover": one("select count(*) from ozon_turnover"),
            "orders": one("select count(*) from ozon_orders"),
            "snapshots": one("select count(distinct snapshot_at) from ozon_stock"),
            "units": one("select sum(quantity) from ozon_stock"),
        }

    def fault(self, endpoint: str, kind: str, **extra: Any) -> None:
        rule = {"service": "ozon", "endpoint": endpoint, "kind": kind, **extra}
        requests.post(self.server.control_url + "/faults", json=rule, timeout=5).raise_for_status()

    def log(self) -> list[dict[str, Any]]:
        return requests.get(self.server.control_url + "/requests", timeout=5).json()


@pytest.fixture(params=["duckdb", "postgres"])
def loader(
    request: pytest.FixtureRequest, server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> Loader:
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path}/warehouse.duckdb"
    else:
        url = request.getfixturevalue("pg_url")
    return Loader(server, url, tmp_path, seller_of(scenario))


def duck_loader(server: SandboxServer, scenario: Scenario, tmp_path: Path) -> Loader:
    return Loader(server, f"duckdb:///{tmp_path}/w.duckdb", tmp_path, seller_of(scenario))


@pytest.fixture(scope="module")
def baseline(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working dir of one good load an hour ago; tests that need a previous load copy it."""
    workdir = tmp_path_factory.mktemp("baseline")
    with SandboxServer(scenario, time_scale=SCALE) as server:
        duck_loader(server, scenario, workdir).load(datetime.now(UTC) - timedelta(hours=1))
    return workdir


def kinds(seller: dict[str, Any]) -> dict[int, tuple[str, str]]:
    return {
        w["id"]: ("FBO" if w["kind"] == "marketplace" else "FBS", w["name"]) for w in seller["warehouses"]
    }


def expected_stock(seller: dict[str, Any]) -> Counter[tuple[str, str]]:
    """Units available to sell per (kind, warehouse): the scenario's `available` (DESIGN §6)."""
    totals: Counter[tuple[str, str]] = Counter()
    for stock in seller["stocks"]:
        totals[kinds(seller)[stock["warehouse_id"]]] += stock["available"]
    return +totals


def loaded_stock(loader: Loader) -> Counter[tuple[str, str]]:
    rows = loader.query(
        "select warehouse_kind, warehouse_name, sum(quantity) from ozon_stock "
        "where snapshot_at = (select max(snapshot_at) from ozon_stock) group by 1, 2"
    )
    return +Counter({(kind, name): int(total) for kind, name, total in rows})


def assert_equals_scenario(loader: Loader, seller: dict[str, Any]) -> None:
    assert loader.query("select count(*) from ozon_products")[0][0] == len(seller["products"])
    assert loaded_stock(loader) == expected_stock(seller)
    latest = "snapshot_at = (select max(snapshot_at) from {t})"
    # Ozon's FBO methods report supplies on their way to a warehouse, never orders on their way to
    # buyers: the scenario's to-buyer units are not loaded as either.
    to_client, supplies = loader.query(
        "select sum(coalesce(in_way_to_client, 0)), sum(coalesce(transit_stock_count, 0)) from ozon_stock "
        "where " + latest.format(t="ozon_stock") + " and warehouse_kind = 'FBO'"
    )[0]
    assert to_client == 0
    fbo = {w["id"] for w in seller["warehouses"] if w["kind"] == "marketplace"}
    assert supplies == sum(s.get("in_supply", 0) for s in seller["stocks"] if s["warehouse_id"] in fbo)
    # The scheme totals of /v4 (on the shelf − reserved) agree with the per-warehouse rows.
    schemes = dict(
        loader.query(
            "select upper(scheme), sum(present - reserved) from ozon_stock_by_scheme where "
            + latest.format(t="ozon_stock_by_scheme")
            + " group by 1"
        )
    )
    per_kind: Counter[str] = Counter()
    for (kind, _), units in expected_stock(seller).items():
        per_kind[kind] += units
    assert {k: int(v) for k, v in schemes.items() if v} == dict(per_kind)
    brands = dict(loader.query("select sku, brand from ozon_product_attributes"))
    assert brands == {p["sku"]: p["brand"] for p in seller["products"]}
    types = loader.query(
        "select a.sku, t.category_name, t.type_name from ozon_product_attributes a join ozon_category_tree t "
        "using (description_category_id, type_id)"
    )
    assert sorted(types) == sorted(
        (p["sku"], p["parent_category"], p["category"]) for p in seller["products"]
    )
    turnover = loader.query("select count(*) from ozon_turnover where " + latest.format(t="ozon_turnover"))
    assert turnover[0][0] == len(seller["products"])
    orders = Counter((kinds(seller)[o["warehouse_id"]][0], o["cancelled"]) for o in seller["orders"])
    loaded = loader.query("select warehouse_kind, cancelled, count(*) from ozon_orders group by 1, 2")
    assert Counter({(k, bool(c)): n for k, c, n in loaded}) == orders
    for table in TABLES:
        assert loader.query(f"select distinct tenant_id, marketplace from {table}") == [(TENANT, "ozon")]


TABLES = (
    "ozon_clusters",
    "ozon_products",
    "ozon_product_attributes",
    "ozon_category_tree",
    "ozon_stock",
    "ozon_stock_by_scheme",
    "ozon_turnover",
    "ozon_orders",
)


def test_full_load_equals_scenario_and_reload_changes_no_counts(loader: Loader, scenario: Scenario) -> None:
    seller = seller_of(scenario)
    at = datetime.now(UTC).replace(microsecond=0)
    result = loader.load(at)
    assert result.rows["ozon_stock"] > 0 and result.rows["ozon_orders"] > 0
    assert_equals_scenario(loader, seller)
    first = loader.counts()

    loader.load(at)  # the same snapshot again: merge keeps one copy of everything
    assert loader.counts() == first

    loader.load(at + timedelta(minutes=10))  # a new snapshot: history grows, facts do not
    later = loader.counts()
    for facts in ("products", "attributes", "types", "orders"):
        assert later[facts] == first[facts], facts
    assert later["snapshots"] == 2 and later["stock"] == 2 * first["stock"]
    assert later["by_scheme"] == 2 * first["by_scheme"] and later["turnover"] == 2 * first["turnover"]
    assert_equals_scenario(loader, seller)


def ozon_sheet(loader: Loader) -> SheetGrid:
    """The Ozon worksheet from what the loader loaded: stock model, then the sheet layout."""
    mart = Mart(loader.warehouse_url, TENANT)
    try:
        mart.ensure_schema()
        assert mart.append_snapshot(["ozon"]) is not None
        mart.rebuild_orders_window(["ozon"], *order_window(7, "Europe/Moscow", datetime.now(UTC)))
        mart.rebuild_metrics(7)
        return build_grid(pl.DataFrame(mart.current_stock()), marketplace="ozon")
    finally:
        mart.close()


def test_brand_subject_and_stock_available_to_sell_reach_the_sheet(
    loader: Loader, scenario: Scenario
) -> None:
    """Бренд and Предмет from the attributes and the category tree; every FBO and FBS group shows
    units available to sell, the scenario's `available`, while Ozon also reports reserved units."""
    seller = seller_of(scenario)
    warehouse_kind = {w["id"]: w["kind"] for w in seller["warehouses"]}
    reserved = Counter(warehouse_kind[s["warehouse_id"]] for s in seller["stocks"] if s.get("reserved"))
    assert reserved["marketplace"] > 0 and reserved["seller"] > 0  # else `reserved` could be ignored unseen
    loader.load()
    grid = ozon_sheet(loader)

    products = {p["sku"]: p for p in seller["products"]}
    assert grid.rows
    for brand, subject, article, sku, *_ in grid.rows:
        product = products[sku]
        assert (brand, subject, article) == (product["brand"], product["category"], product["offer_id"])

    label = {w["id"]: w["name"] + (FBS_SUFFIX if w["kind"] == "seller" else "") for w in seller["warehouses"]}
    expected: Counter[tuple[str, int]] = Counter()
    for stock in seller["stocks"]:
        expected[(label[stock["warehouse_id"]], stock["sku"])] += stock["available"]
    first_group = INFO_COLUMNS + TOTAL_COLUMNS
    shown = Counter(
        {
            (group, row[3]): row[first_group + 3 * g]
            for row in grid.rows
            for g, group in enumerate(grid.groups)
            if row[first_group + 3 * g]
        }
    )
    assert shown == +expected
    assert any(group.endswith(FBS_SUFFIX) for group in grid.groups)


@pytest.mark.parametrize("page", [50, 40, 119])
def test_attributes_page_across_page_boundaries(
    page: int, server: SandboxServer, scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """120 products in pages of 50 (short last page), 40 (full last page: `total` ends it) and 119."""
    monkeypatch.setattr(S, "ATTRIBUTES_PAGE", page)
    seller = seller_of(scenario)
    loader = duck_loader(server, scenario, tmp_path)
    loader.load()
    brands = dict(loader.query("select sku, brand from ozon_product_attributes"))
    assert brands == {p["sku"]: p["brand"] for p in seller["products"]}
    # Pages answered: a 429 the pacing met on a loaded machine is retried, not another page.
    calls = Counter(e["path"] for e in loader.log() if e["status"] == 200)
    assert calls["/v4/product/info/attributes"] == math.ceil(len(seller["products"]) / page)


def test_wb_and_ozon_share_the_tenant_dataset(
    server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> None:
    """The same seller on both marketplaces: one dataset, `wb_` and `ozon_` tables side by side."""
    loader = duck_loader(server, scenario, tmp_path)
    loader.load()
    ozon = seller_of(scenario)
    wb = next(
        s for s in scenario["sellers"] if s["marketplace"] == "wildberries" and s["name"] == ozon["name"]
    )
    wb_pipeline = tenant_pipeline(TENANT, "wildberries", loader.warehouse_url, tmp_path / "pipelines")
    urls = WbUrls.from_sandbox(server.urls)
    policy = loader.policy
    at = datetime.now(UTC)
    run_source(
        wb_pipeline, lambda: wildberries_source(wb["credentials"]["token"], TENANT, at, urls, 30, policy)
    )
    assert_equals_scenario(loader, ozon)  # the WB load left the Ozon tables alone
    marketplaces = loader.query(
        "select distinct marketplace from wb_stock union all select distinct marketplace from ozon_stock"
    )
    assert sorted(marketplaces) == [("ozon",), ("wildberries",)]


def fbo_cells(rows: list[dict[str, Any]]) -> dict[tuple[int, str], tuple[int, int]]:
    return {(r["sku"], r["warehouse_name"]): (r["quantity"], r.get("transit_stock_count")) for r in rows}


def test_fallback_methods_give_the_same_stock(
    server: SandboxServer, scenario: Scenario, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    seller = seller_of(scenario)
    loader = duck_loader(server, scenario, tmp_path)
    client = loader.client()
    current, legacy = client.fbo_stock_analytics(), client.fbo_stock_legacy()
    assert current is not None and fbo_cells(current) == fbo_cells(legacy)
    fbo = {w["id"] for w in seller["warehouses"] if w["kind"] == "marketplace"}
    assert sum(r["reserved"] for r in legacy) == sum(
        s.get("reserved", 0) for s in seller["stocks"] if s["warehouse_id"] in fbo
    )
    by_warehouse = client.fbs_stock_by_warehouse()
    assert by_warehouse is not None
    fbs_key = lambda r: (r["sku"], r["warehouse_id"], r["quantity"], r["reserved"])  # noqa: E731
    assert sorted(map(fbs_key, by_warehouse)) == sorted(map(fbs_key, client.fbs_stock_by_sku()))

    at = datetime.now(UTC).replace(microsecond=0)
    loader.load(at)
    request.getfixturevalue("switched_off")
    loader.load(at + timedelta(minutes=10))
    assert_equals_scenario(loader, seller)
    paths = {e["path"] for e in loader.log()}
    assert set(FALLBACK_ENDPOINTS) <= paths
    same = loader.query(
        "select count(*) from ozon_stock a join ozon_stock b using (sku, warehouse_kind, warehouse_name) "
        "where a.snapshot_at < b.snapshot_at and a.quantity = b.quantity"
    )[0][0]
    assert same == loader.query("select count(*) from ozon_stock")[0][0] // 2
    before = loader.counts()

    # The day Ozon switches off the legacy method too: the sync fails and keeps the last load.
    requests.post(server.control_url + "/settings", json={"ozon_stock_on_warehouses": False}, timeout=5)
    with pytest.raises(MarketplaceError, match="stock_on_warehouses: HTTP 404"):
        client.fbo_stock_legacy()
    with pytest.raises(SyncError, match="/v2/analytics/stock_on_warehouses: HTTP 404"):
        loader.load()
    assert loader.counts() == before


@pytest.mark.parametrize("path", ["current", "fallback"])
def test_every_list_pages_to_the_end(
    path: str,
    server: SandboxServer,
    scenario: Scenario,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pages and batches far smaller than the scenario: every cursor, offset and batch loop runs,
    and the FBO posting list restarts its window where Ozon's offset cap would stop it."""
    if path == "fallback":
        request.getfixturevalue("switched_off")
    small = {"PAGE": 40, "INFO_BATCH": 50, "ANALYTICS_BATCH": 30, "TURNOVER_BATCH": 50, "ATTRIBUTES_PAGE": 40}
    small |= {"FBS_SKU_BATCH": 50, "WAREHOUSE_PAGE": 1, "FBO_POSTINGS_MAX_OFFSET": 40}
    for name, value in small.items():
        monkeypatch.setattr(S, name, value)
    fbo_bodies: list[dict[str, Any]] = []
    post = OzonClient._post

    def spy(self: OzonClient, path: str, body: dict[str, Any], *rest: Any) -> dict[str, Any]:
        if path == S.FBO_POSTINGS:
            fbo_bodies.append(body)
        return post(self, path, body, *rest)

    monkeypatch.setattr(OzonClient, "_post", spy)
    loader = duck_loader(server, scenario, tmp_path)
    loader.load()
    assert_equals_scenario(loader, seller_of(scenario))
    assert Counter(e["path"] for e in loader.log())["/v3/product/list"] == 1 + 3  # check + 120 by 40
    assert max(b["offset"] for b in fbo_bodies) <= 40
    assert len({b["filter"]["since"] for b in fbo_bodies}) > 1  # the window moved on


@pytest.mark.parametrize("kind", TRANSIENT)
def test_transient_faults_on_every_endpoint_end_in_a_complete_load(
    kind: str, server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> None:
    loader = duck_loader(server, scenario, tmp_path)
    extra = {"delay": 0.2} if kind == "delay" else {}
    if kind == "timeout":  # each one costs a whole read timeout: keep it short
        loader.policy.read_timeout, extra = 0.3, {"delay": 1.0}
    for endpoint in MAIN_ENDPOINTS:
        loader.fault(endpoint, kind, count=1, **extra)
    loader.load()
    assert_equals_scenario(loader, seller_of(scenario))
    assert sum(1 for e in loader.log() if e.get("fault") == kind) == len(MAIN_ENDPOINTS)


@pytest.mark.parametrize("kind", ["429", "503", "reset", "malformed"])
def test_fallback_endpoints_survive_transient_faults(
    kind: str, server: SandboxServer, scenario: Scenario, tmp_path: Path, switched_off: None
) -> None:
    loader = duck_loader(server, scenario, tmp_path)
    for endpoint in FALLBACK_ENDPOINTS:
        loader.fault(endpoint, kind, count=1)
    loader.load()
    assert_equals_scenario(loader, seller_of(scenario))
    assert sum(1 for e in loader.log() if e.get("fault") == kind) == len(FALLBACK_ENDPOINTS)


@pytest.mark.parametrize("endpoint", MAIN_ENDPOINTS + FALLBACK_ENDPOINTS)
def test_persistent_fault_fails_loudly_and_keeps_the_previous_load(
    endpoint: str,
    server: SandboxServer,
    scenario: Scenario,
    tmp_path: Path,
    baseline: Path,
    request: pytest.FixtureRequest,
) -> None:
    if endpoint in FALLBACK_ENDPOINTS:
        request.getfixturevalue("switched_off")
    seller = seller_of(scenario)
    shutil.copytree(baseline, tmp_path, dirs_exist_ok=True)
    loader = duck_loader(server, scenario, tmp_path)
    loader.policy.max_attempts = 3
    before = loader.counts()
    assert before["snapshots"] == 1 and loaded_stock(loader) == expected_stock(seller)
    loader.fault(endpoint, "500", fraction=1.0)
    with pytest.raises(SyncError) as failure:
        loader.load()
    message = str(failure.value)
    assert f"Ozon {endpoint}: gave up after 3 attempts: HTTP 500" in message
    assert seller["credentials"]["api_key"] not in message
    assert loader.counts() == before
    assert loaded_stock(loader) == expected_stock(seller)


@pytest.mark.parametrize("case", ["wrong-key", "unknown-client", "revoked"])
def test_refused_key_fails_with_ozons_reason_and_no_retry_storm(
    case: str, server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> None:
    loader = duck_loader(server, scenario, tmp_path)
    reason = "Invalid Api-Key, please check the key and try again"
    if case == "wrong-key":
        loader.api_key = "0b5c6d2e-0000-4000-8000-000000000000"
    elif case == "unknown-client":
        loader.client_id = "1"
    else:
        loader.fault("*", "401", fraction=1.0)
        reason = "Api-key is deactivated"
    with pytest.raises(SyncError, match=reason) as failure:
        loader.load()
    assert "the key was refused" in str(failure.value) or "HTTP 401" in str(failure.value)
    assert len(loader.log()) == 1


@pytest.mark.parametrize("endpoint", ["/v4/product/info/attributes", "/v1/description-category/tree"])
def test_key_revoked_mid_sync_on_an_attribute_method_fails_with_ozons_reason(
    endpoint: str, server: SandboxServer, scenario: Scenario, tmp_path: Path
) -> None:
    loader = duck_loader(server, scenario, tmp_path)
    loader.fault(endpoint, "401", fraction=1.0)
    with pytest.raises(SyncError, match=f"Ozon {endpoint}: .*Api-key is deactivated"):
        loader.load()
    assert sum(1 for e in loader.log() if e["path"] == endpoint) == 1  # refused keys are not retried


def pages(items: int, size: int) -> int:
    """Requests a list needs when a short (or flagged) last page ends it: at least one."""
    return max(1, math.ceil(items / size))


def test_a_1000_sku_sync_draws_no_429_and_minimal_requests(tmp_path: Path) -> None:
    raw = generate_scenario(sellers=2, skus=1000, warehouses=40, days=20, seed=5)
    scenario = parse_scenario(orjson.dumps(raw))
    seller = seller_of(scenario)
    with SandboxServer(scenario, time_scale=200.0) as server:
        loader = duck_loader(server, scenario, tmp_path)
        loader.policy.time_scale = 200.0
        loader.load()
        log = loader.log()
    assert not [e for e in log if e["status"] == 429]
    skus = len(seller["products"])
    kind = {w: k for w, (k, _) in kinds(seller).items()}
    fbs_cells = Counter(w for _, w in {(s["sku"], s["warehouse_id"]) for s in seller["stocks"]})
    fbs_warehouses = [w for w, k in kind.items() if k == "FBS"]
    fbo_orders = sum(1 for o in seller["orders"] if kind[o["warehouse_id"]] == "FBO")
    fbs_orders = len(seller["orders"]) - fbo_orders
    assert Counter(e["path"] for e in log) == {
        "/v3/product/list": 1 + pages(skus, 1000),  # the key check, then the list
        "/v3/product/info/list": pages(skus, 1000),
        "/v4/product/info/attributes": pages(skus, 1000),  # a full last page ends by `total`
        "/v1/description-category/tree": 1,
        "/v4/product/info/stocks": pages(skus, 1000),
        "/v1/analytics/stocks": pages(skus, 100),
        "/v1/cluster/list": 1,  # no paging: a few dozen clusters
        "/v1/analytics/turnover/stocks": pages(skus, 1000),
        "/v2/warehouse/list": 1,
        "/v1/product/info/warehouse/stocks": sum(pages(fbs_cells[w], 1000) for w in fbs_warehouses),
        "/v2/posting/fbo/list": fbo_orders // 1000 + 1,  # ends on a page shorter than the limit
        "/v3/posting/fbs/list": pages(fbs_orders, 1000),  # ends on has_next = false
    }


def test_clusters_and_supply_fields_load_for_planning(loader: Loader, scenario: Scenario) -> None:
    """`/v1/cluster/list` maps every Ozon warehouse to its cluster; the FBO rows carry the cluster,
    Ozon's 28-day rates and the supply counts the plan reads."""
    seller = seller_of(scenario)
    loader.load()
    fbo = [w for w in seller["warehouses"] if w["kind"] == "marketplace"]
    clusters = loader.query(
        "select warehouse_id, warehouse_name, cluster_id, cluster_name from ozon_clusters"
    )
    assert sorted(clusters) == sorted((w["id"], w["name"], w["cluster_id"], w["cluster"]) for w in fbo)
    rows = loader.query(
        "select warehouse_id, cluster_id, cluster, ads, ads_cluster, transit_stock_count, "
        "requested_stock_count from ozon_stock where warehouse_kind = 'FBO'"
    )
    by_id = {w["id"]: w for w in fbo}
    assert rows and all((by_id[r[0]]["cluster_id"], by_id[r[0]]["cluster"]) == r[1:3] for r in rows)
    assert all(r[3] is not None and r[4] is not None and r[4] <= r[3] for r in rows)
    in_transit = sum(s.get("in_supply", 0) for s in seller["stocks"] if s["warehouse_id"] in by_id)
    assert sum(r[5] for r in rows) == in_transit
    # FBS rows have no cluster figures.
    assert (
        loader.query("select count(*) from ozon_stock where warehouse_kind = 'FBS' and ads is not null")[0][0]
        == 0
    )

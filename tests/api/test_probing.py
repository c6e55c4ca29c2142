"""Regression tests for the holes an attacker's probe found (issue 9): a removed user's token acting
as the next user, forged sign-in families, owners removing each other at once, NUL and control
characters, redirects built from Host, world-readable files, per-account throttling, common
passwords, /metrics in production and the database going away."""

from __future__ import annotations

import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.conftest import JWT_SECRET, PASSWORD, Seller, add_member, make_settings, register
from warehouse.app_db import migrate
from warehouse.mart import Mart


@pytest.fixture
def sqlite_client(tmp_path: Path, sandbox: SandboxServer) -> Iterator[TestClient]:
    """The API on the embedded default's app database (SQLite), where ids used to be reused."""
    url = f"sqlite:///{tmp_path / 'home' / 'app.db'}"
    migrate(url)
    settings = make_settings(tmp_path / "home", url, sandbox)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _me(client: TestClient, token: str) -> int:
    return client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def _forge(**changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "stock-tracker",
        "aud": "stock-tracker-api",
        "typ": "access",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
        **changes,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


# --- tokens bound to live rows -----------------------------------------------------------------


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_removed_users_token_never_acts_as_the_next_user(
    db: str, sqlite_client: TestClient, client: TestClient
) -> None:
    api = sqlite_client if db == "sqlite" else client
    owner = register(api)
    removed = add_member(api, owner, "admin")
    assert api.delete(f"/api/v1/tenants/me/users/{removed.user_id}", headers=owner.auth).status_code == 204
    added = api.post(
        "/api/v1/tenants/me/users",
        json={"email": f"new-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD, "role": "owner"},
        headers=owner.auth,
    )
    assert added.status_code == 201
    assert added.json()["id"] > removed.user_id  # ids are never handed out twice
    assert _me(api, removed.access) == 401
    patch = api.patch("/api/v1/tenants/me", json={"name": "Taken over"}, headers=removed.auth)
    assert patch.status_code == 401
    refreshed = api.post("/api/v1/auth/refresh", json={"refresh_token": removed.refresh})
    assert refreshed.status_code == 401


def test_a_token_of_a_sign_in_that_does_not_exist_is_refused(client: TestClient, seller: Seller) -> None:
    forged = _forge(sub=str(seller.user_id), tid=seller.tenant_id, fam="no-such-family-" + "x" * 20)
    assert _me(client, forged) == 401
    # The same claims with the real family work: the refusal is about the family only.
    real_family = jwt.decode(seller.access, JWT_SECRET, algorithms=["HS256"], audience="stock-tracker-api")
    assert _me(client, _forge(sub=str(seller.user_id), tid=seller.tenant_id, fam=real_family["fam"])) == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "9" * 40},
        {"sub": str(2**31)},
        {"sub": "0"},
        {"sub": "-5"},
        {"sub": "1\x00"},
        {"sub": 7},
        {"tid": "shop\x00"},
        {"tid": "x" * 500},
        {"fam": "fam\x00ily"},
        {"fam": ["a list"]},
    ],
)
def test_out_of_range_or_malformed_claims_in_a_signed_token_are_a_401(
    client: TestClient, seller: Seller, claims: dict[str, Any]
) -> None:
    base = {"sub": str(seller.user_id), "tid": seller.tenant_id, "fam": "family"}
    response = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {_forge(**{**base, **claims})}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


# --- the owner rule under concurrency ----------------------------------------------------------


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
@pytest.mark.parametrize("change", ["demote", "delete"])
def test_two_owners_removing_each_other_at_once_leave_an_owner(
    db: str, change: str, sqlite_client: TestClient, client: TestClient
) -> None:
    api = sqlite_client if db == "sqlite" else client
    for _ in range(3):
        first = register(api)
        second = add_member(api, first, "owner")

        def act(actor: Seller, target: Seller) -> Callable[[], int]:
            url = f"/api/v1/tenants/me/users/{target.user_id}"
            if change == "demote":
                return lambda: api.patch(url, json={"role": "viewer"}, headers=actor.auth).status_code
            return lambda: api.delete(url, headers=actor.auth).status_code

        statuses = _at_once(act(first, second), act(second, first))
        # One change wins; the other is refused: `last_owner` (409), or, when it was checked after
        # the winner had already demoted (403 `forbidden_role`) or removed (401) its author.
        done = [s for s in statuses if s in (200, 204)]
        assert len(done) == 1 and {*statuses} - {*done} <= {401, 403, 409}, statuses
        survivor = first if statuses[0] in (200, 204) else second
        members = api.get("/api/v1/tenants/me/users", headers=survivor.auth)
        assert [u["role"] for u in members.json()].count("owner") == 1


def test_concurrent_sign_ups_with_one_tenant_name_all_succeed(sqlite_client: TestClient) -> None:
    name = f"Same Name {uuid.uuid4().hex[:6]}"

    def sign_up() -> int:
        body = {"email": f"s-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD, "tenant_name": name}
        return sqlite_client.post("/api/v1/auth/register", json=body).status_code

    assert _at_once(*[sign_up] * 6) == [201] * 6


# --- input -------------------------------------------------------------------------------------

CONTROL = ["\x00", "\x01", "\x1b[31m", "\x7f", "\x85"]


@pytest.mark.parametrize("char", CONTROL)
def test_control_characters_in_text_fields_are_a_422(client: TestClient, seller: Seller, char: str) -> None:
    email = f"c-{uuid.uuid4().hex[:8]}@example.com"
    bodies = [
        ("/api/v1/auth/register", {"email": email, "password": PASSWORD, "tenant_name": f"Shop{char}"}),
        ("/api/v1/auth/register", {"email": email, "password": PASSWORD, "tenant_name": char}),
        ("/api/v1/auth/register", {"email": f"a{char}b@example.com", "password": PASSWORD}),
        ("/api/v1/auth/register", {"email": email, "password": f"{PASSWORD}{char}"}),
        ("/api/v1/auth/login", {"email": f"{seller.email}{char}", "password": PASSWORD}),
        ("/api/v1/auth/refresh", {"refresh_token": f"{seller.refresh}{char}"}),
    ]
    for path, body in bodies:
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, body)
        assert response.json()["error"]["code"] == "validation_error"
    patch = client.patch("/api/v1/tenants/me", json={"name": f"New{char}name"}, headers=seller.auth)
    assert patch.status_code == 422
    assert client.get("/api/v1/auth/me", headers=seller.auth).json()["tenant"]["name"] == "ООО Ромашка"


@pytest.mark.parametrize(
    "url", ["/api/v1/products/?search=a%00b", "/api/v1/products/?q=%1b", "/api/v1/sync/status/a%00"]
)
def test_control_characters_in_the_address_are_a_422(client: TestClient, seller: Seller, url: str) -> None:
    response = client.get(url, headers=seller.auth)
    assert response.status_code == 422
    assert response.json()["error"]["code"] in ("validation_error", "control_characters")


def test_odd_headers_and_tokens_are_never_a_500(client: TestClient, seller: Seller) -> None:
    odd = [
        {"Authorization": "Bearer " + "a" * 10_000},
        {"Authorization": "Bearer \x7f\x7f"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        {"Accept-Language": "\x7f" * 300},
        {"X-Request-ID": "../../etc/passwd"},
        {"Content-Type": "application/json; charset=koi8-r"},
    ]
    for headers in odd:
        for method, path in (("GET", "/api/v1/auth/me"), ("POST", "/api/v1/auth/login")):
            response = client.request(method, path, headers=headers, content=b'{"email": "\\u0000"}')
            assert response.status_code < 500, (headers, path)


# --- hardening ---------------------------------------------------------------------------------


def test_redirects_never_use_the_requests_host(client: TestClient, seller: Seller) -> None:
    response = client.get(
        "/api/v1/products", headers={**seller.auth, "Host": "attacker.example"}, follow_redirects=False
    )
    assert response.status_code in (307, 308)
    location = response.headers["location"]
    assert "attacker" not in location
    assert location.startswith("/api/v1/products/") and not location.startswith("//")


def test_the_app_database_and_warehouse_files_are_the_owners_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    migrate(settings.app_database_url)
    Mart(settings.warehouse_url.replace("{tenant}", "shop"), "shop").close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in (home / "app.db", home / "warehouse" / "shop.duckdb"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((home / "warehouse").stat().st_mode) == 0o700


def test_login_is_throttled_per_account_with_a_lock_out_that_ends(
    tmp_path: Path, app_db: str, sandbox: SandboxServer
) -> None:
    settings = make_settings(tmp_path, app_db, sandbox, rate_limit_login_account="3/3 seconds")
    app = create_app(settings)
    with TestClient(app) as client:
        victim = register(client)
        bystander = register(client)
        addresses = [TestClient(app, client=(f"10.0.0.{i}", 4000)) for i in range(6)]
        wrong = [
            a.post("/api/v1/auth/login", json={"email": victim.email, "password": "wrong guess"})
            for a in addresses
        ]
        assert [w.status_code for w in wrong] == [401, 401, 401, 429, 429, 429]  # from many IPs
        assert wrong[-1].json()["error"]["code"] == "account_locked"
        assert 1 <= int(wrong[-1].headers["retry-after"]) <= 3
        # Locked means locked, even with the right password; other accounts sign in as usual.
        right = {"email": victim.email, "password": PASSWORD}
        assert client.post("/api/v1/auth/login", json=right).status_code == 429
        bystander_login = {"email": bystander.email, "password": PASSWORD}
        assert client.post("/api/v1/auth/login", json=bystander_login).status_code == 200
        # Attempts while locked do not extend the lock: it ends one window after the failures.
        time.sleep(3.5)
        assert client.post("/api/v1/auth/login", json=right).status_code == 200


@pytest.mark.parametrize("password", ["password123", "qwertyuiop", "iloveyou", "Password1"])
def test_common_passwords_are_refused(client: TestClient, seller: Seller, password: str) -> None:
    body = {"email": f"p-{uuid.uuid4().hex[:8]}@example.com", "password": password}
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.password"
    member = client.post("/api/v1/tenants/me/users", json={**body, "role": "viewer"}, headers=seller.auth)
    assert member.status_code == 422


def test_metrics_need_the_token_in_production(tmp_path: Path, app_db: str, sandbox: SandboxServer) -> None:
    token = "scrape-" + "k" * 30
    settings = make_settings(tmp_path, app_db, sandbox, environment="production", metrics_token=token)
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and "stock_tracker_" in scraped.text
    without_token = make_settings(tmp_path, app_db, sandbox, environment="production")
    with TestClient(create_app(without_token)) as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


# --- the database away -------------------------------------------------------------------------


def test_an_unreachable_app_database_is_a_503_with_retry_after(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # Nothing listens on port 9: the same answer as while PostgreSQL restarts.
    settings = make_settings(tmp_path, "postgresql://stock@127.0.0.1:9/none", sandbox)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for response in (
            client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": PASSWORD}),
            client.post(
                "/api/v1/auth/register",
                json={"email": f"d-{uuid.uuid4().hex[:6]}@example.com", "password": PASSWORD},
            ),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "database_unavailable"
            assert int(response.headers["retry-after"]) > 0

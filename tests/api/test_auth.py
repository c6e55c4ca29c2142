"""Sign-up, sign-in, rotating refresh, sign-out, and the attacks on tokens and passwords."""

from __future__ import annotations

import base64
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api import security
from api.main import create_app
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.conftest import JWT_SECRET, PASSWORD, Seller, make_settings, register
from warehouse.app_db import engine_for


def login(client: TestClient, email: str, password: str = PASSWORD) -> dict:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def me_status(client: TestClient, token: str) -> tuple[int, dict]:
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json()


def test_register_creates_a_tenant_on_a_starter_trial_with_its_owner(client: TestClient) -> None:
    seller = register(client, "ООО Ромашка", locale="en")
    status, me = me_status(client, seller.access)
    assert status == 200
    assert me["user"]["role"] == "owner" and me["user"]["email"] == seller.email
    tenant = me["tenant"]
    assert tenant["id"].startswith("ooo-romashka") and tenant["name"] == "ООО Ромашка"
    assert tenant["tier"] == "starter" and tenant["locale"] == "en"
    trial = tenant["subscription"]
    assert trial["status"] == "trialing" and trial["tier"] == "starter"
    left = datetime.fromisoformat(trial["trial_ends_at"]) - datetime.now(UTC)
    assert timedelta(days=13, hours=23) < left <= timedelta(days=14)


def test_register_refuses_a_taken_email_and_a_weak_password(client: TestClient, seller: Seller) -> None:
    again = client.post(
        "/api/v1/auth/register",
        json={"email": seller.email.upper(), "password": PASSWORD, "tenant_name": "Twin"},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "email_taken"
    weak = client.post(
        "/api/v1/auth/register", json={"email": "x@example.com", "password": "Qz7!", "tenant_name": "X"}
    )
    assert weak.status_code == 422
    error = weak.json()["error"]
    assert error["code"] == "validation_error" and error["details"][0]["field"] == "body.password"
    assert "Qz7!" not in weak.text  # the value sent is never echoed


def test_login_gives_a_15_minute_access_token_and_a_30_day_refresh_token(
    client: TestClient, seller: Seller
) -> None:
    tokens = login(client, seller.email)
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60 and tokens["refresh_expires_in"] == 30 * 24 * 3600
    access = jwt.decode(
        tokens["access_token"], JWT_SECRET, algorithms=["HS256"], audience="stock-tracker-api"
    )
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "HS256"
    assert access["exp"] - access["iat"] == 15 * 60 and access["tid"] == seller.tenant_id
    assert me_status(client, tokens["access_token"])[0] == 200


def test_wrong_password_and_unknown_email_get_the_same_answer(client: TestClient, seller: Seller) -> None:
    wrong = client.post("/api/v1/auth/login", json={"email": seller.email, "password": "not the password"})
    unknown = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["code"] == unknown.json()["error"]["code"] == "invalid_credentials"
    assert (
        wrong.json()["error"]["message"] == unknown.json()["error"]["message"] == "Неверный email или пароль"
    )


def test_an_unknown_email_is_checked_against_a_dummy_hash(
    client: TestClient, seller: Seller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same work (one Argon2 verification) whether or not the account exists."""
    checked: list[str] = []
    real_verify = security.password_hash.verify

    def spy(password: str, hashed: str) -> bool:
        checked.append(hashed)
        return real_verify(password, hashed)

    monkeypatch.setattr(security.password_hash, "verify", spy)
    client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert len(checked) == 1 and checked[0].startswith("$argon2id$")

    timings: dict[str, list[float]] = {seller.email: [], "nobody-else@example.com": []}
    for _ in range(3):
        for email, spent in timings.items():
            started = time.perf_counter()
            client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password!"})
            spent.append(time.perf_counter() - started)
    fast, slow = sorted(min(spent) for spent in timings.values())
    assert slow < fast * 3  # no order-of-magnitude gap that would tell accounts apart


def test_an_imported_bcrypt_hash_signs_in_and_is_upgraded_to_argon2(
    client: TestClient, seller: Seller, app_db: str
) -> None:
    imported = bcrypt.hashpw(b"imported password", bcrypt.gensalt(rounds=4)).decode()
    with engine_for(app_db).begin() as connection:
        connection.execute(
            text("update users set password_hash = :h where email = :e"), {"h": imported, "e": seller.email}
        )
    login(client, seller.email, "imported password")
    with engine_for(app_db).connect() as connection:
        stored = connection.execute(
            text("select password_hash from users where email = :e"), {"e": seller.email}
        ).scalar()
    assert stored.startswith("$argon2id$")
    login(client, seller.email, "imported password")  # the new hash works


def test_refresh_rotates_and_each_refresh_token_works_once(client: TestClient, seller: Seller) -> None:
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": seller.refresh})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != seller.refresh and rotated["access_token"] != seller.access
    assert me_status(client, rotated["access_token"])[0] == 200
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert second.status_code == 200


def test_reusing_a_refresh_token_revokes_the_whole_family(client: TestClient, seller: Seller) -> None:
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": seller.refresh}).json()
    other_login = login(client, seller.email)  # another device: a family of its own

    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": seller.refresh})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "refresh_token_reused"
    # Every token of the family is dead: the rotated refresh token and the access tokens.
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401 and after.json()["error"]["code"] == "session_revoked"
    status, body = me_status(client, rotated["access_token"])
    assert status == 401 and body["error"]["code"] == "session_revoked"
    assert me_status(client, seller.access)[0] == 401
    # The other sign-in is untouched.
    assert me_status(client, other_login["access_token"])[0] == 200
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": other_login["refresh_token"]}).status_code
        == 200
    )


def test_logout_ends_the_sign_in(client: TestClient, seller: Seller) -> None:
    assert client.post("/api/v1/auth/logout", json={"refresh_token": seller.refresh}).status_code == 204
    assert me_status(client, seller.access)[1]["error"]["code"] == "session_revoked"
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": seller.refresh})
    assert refresh.status_code == 401


def _forge(claims: dict, key: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_expired_tampered_unsigned_and_foreign_tokens_are_refused(client: TestClient, seller: Seller) -> None:
    claims = jwt.decode(seller.access, JWT_SECRET, algorithms=["HS256"], audience="stock-tracker-api")
    expired = _forge({**claims, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 60})
    header, _, signature = seller.access.split(".")
    tampered = ".".join([header, _b64({**claims, "tid": "someone-else"}), signature])
    unsigned = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims), ""])
    wrong_key = _forge(claims, key="another secret of the same length, 40 chars!!")
    hs512 = _forge(claims, algorithm="HS512")
    refresh_as_access = seller.refresh

    cases = {
        "token_expired": [expired],
        "invalid_token": [tampered, unsigned, wrong_key, hs512, refresh_as_access, "garbage", ""],
    }
    for code, tokens in cases.items():
        for token in tokens:
            status, body = me_status(client, token)
            assert status == 401, token
            if token:  # an empty bearer is "not signed in"
                assert body["error"]["code"] == code, token
    no_header = client.get("/api/v1/auth/me")
    assert no_header.status_code == 401 and no_header.json()["error"]["code"] == "not_authenticated"
    assert no_header.headers["www-authenticate"] == "Bearer"
    # An access token is no refresh token either.
    as_refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": seller.access})
    assert as_refresh.status_code == 401 and as_refresh.json()["error"]["code"] == "invalid_token"


def test_brute_force_on_login_is_throttled_per_ip(
    tmp_path: Path, app_db: str, sandbox: SandboxServer
) -> None:
    settings: Settings = make_settings(tmp_path, app_db, sandbox, rate_limit_auth="5/minute")
    with TestClient(create_app(settings)) as client:
        answers = [
            client.post("/api/v1/auth/login", json={"email": "victim@example.com", "password": f"guess-{i}"})
            for i in range(8)
        ]
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
        throttled = answers[-1]
        assert throttled.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        # Another client address has its own budget.
        other = TestClient(create_app(settings), client=("10.1.2.3", 5000))
        assert (
            other.post("/api/v1/auth/login", json={"email": "v@example.com", "password": "x"}).status_code
            == 401
        )


def test_no_extra_guess_when_the_window_turns(tmp_path: Path, app_db: str, sandbox: SandboxServer) -> None:
    # Five guesses late in one 4-second window, a sixth just after it turns: a sliding-window
    # counter estimates floor(5 × 0.99) = 4 there and lets it through; the sign-in routes count
    # exactly. (CI once saw six 401s before the first 429 at a minute's turn.)
    settings = make_settings(tmp_path, app_db, sandbox, rate_limit_auth="5/4 seconds")
    app = create_app(settings)
    with TestClient(app) as warm:  # the first request of an app is slower
        warm.post("/api/v1/auth/login", json={"email": "w@example.com", "password": "x"})

    def guess(client: TestClient, i: int) -> int:
        body = {"email": "victim@example.com", "password": f"guess-{i}"}
        return client.post("/api/v1/auth/login", json=body).status_code

    for attempt in range(3):  # a fresh address each time the five could not be placed in time
        client = TestClient(app, client=(f"10.9.9.{attempt + 1}", 4000))
        time.sleep((2 - time.time() % 4) % 4)  # two seconds into a window
        first = [guess(client, i) for i in range(5)]
        if time.time() % 4 < 3.9:
            break
    else:
        pytest.fail("five sign-ins took over 1.9 s three times; the test cannot place them")
    time.sleep(4 - time.time() % 4 + 0.02)
    assert [*first, guess(client, 5)] == [401] * 5 + [429]


def test_replicas_share_the_limit_through_redis(
    tmp_path: Path, app_db: str, sandbox: SandboxServer, redis_url: str
) -> None:
    settings = make_settings(tmp_path, app_db, sandbox, rate_limit_auth="5/minute", redis_url=redis_url)
    address = (f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}", 4000)
    replicas = [TestClient(create_app(settings), client=address) for _ in range(2)]
    # An address of this run's own: Redis outlives the run, and the per-account lock-out (10 failed
    # sign-ins in 15 minutes) would carry an earlier run's guesses into this one.
    email = f"v-{random.randrange(10**9)}@example.com"
    answers = [
        replicas[i % 2].post("/api/v1/auth/login", json={"email": email, "password": f"guess-{i}"})
        for i in range(7)
    ]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 2


# --- the documented shapes (the predecessor's README, OAuth2 password clients) -----------------


def _unique(local: str) -> str:
    return f"{local}-{uuid.uuid4().hex[:8]}"


def test_register_with_the_documented_body_keeps_the_telegram_id(client: TestClient) -> None:
    local = _unique("ivan.petrov")
    email = f"{local}@example.com"
    # Verbatim the predecessor's documented body: no tenant name.
    response = client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "telegram_id": 123456789}
    )
    assert response.status_code == 201, response.text
    assert response.json()["user"]["telegram_id"] == 123456789
    status, me = me_status(client, response.json()["access_token"])
    assert status == 200
    assert me["user"]["telegram_id"] == 123456789 and me["user"]["email"] == email
    # The account is named after the email's local part; its id is that name as a slug.
    assert me["tenant"]["name"] == local and me["tenant"]["id"] == local.replace(".", "-")

    # The same local part at another domain gets the same name and an id of its own.
    twin = client.post("/api/v1/auth/register", json={"email": f"{local}@example.org", "password": PASSWORD})
    assert twin.status_code == 201, twin.text
    twin_me = me_status(client, twin.json()["access_token"])[1]
    assert twin_me["tenant"]["name"] == local and twin_me["user"]["telegram_id"] is None
    assert twin_me["tenant"]["id"].startswith(local.replace(".", "-") + "-")
    assert twin_me["tenant"]["id"] != me["tenant"]["id"]


def test_login_with_the_documented_username_body(client: TestClient, seller: Seller) -> None:
    response = client.post("/api/v1/auth/login", json={"username": seller.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "bearer" and tokens["user"]["email"] == seller.email
    assert me_status(client, tokens["access_token"])[0] == 200
    wrong = client.post("/api/v1/auth/login", json={"username": seller.email, "password": "not it!"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"


def test_login_with_an_oauth2_password_form_as_swagger_sends_it(client: TestClient, seller: Seller) -> None:
    # What Swagger UI's Authorize button posts for the password flow (RFC 6749 §4.3.2).
    form = {"grant_type": "password", "username": seller.email, "password": PASSWORD, "scope": ""}
    response = client.post("/api/v1/auth/login", data=form)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "bearer" and me_status(client, tokens["access_token"])[0] == 200
    # grant_type may be left out; a wrong password is refused as in JSON.
    no_grant = client.post("/api/v1/auth/login", data={"username": seller.email, "password": PASSWORD})
    assert no_grant.status_code == 200
    wrong = client.post("/api/v1/auth/login", data={**form, "password": "not the password"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_credentials"
    other_grant = client.post("/api/v1/auth/login", data={**form, "grant_type": "client_credentials"})
    assert other_grant.status_code == 422 and other_grant.json()["error"]["code"] == "validation_error"
    missing = client.post("/api/v1/auth/login", data={"username": seller.email})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"][0]["field"] == "body.password"

    # The document tells Swagger UI to sign in there, with this form.
    document = client.get("/api/v1/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert [s["flows"]["password"]["tokenUrl"] for s in schemes.values()] == ["/api/v1/auth/login"]
    login_body = document["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"]
    assert set(login_body) == {"application/json", "application/x-www-form-urlencoded"}


def test_logout_with_only_the_bearer_token_ends_that_sign_in(client: TestClient, seller: Seller) -> None:
    other_device = login(client, seller.email)
    bearer = {"Authorization": f"Bearer {seller.access}"}
    assert client.post("/api/v1/auth/logout", headers=bearer).status_code == 204

    status, body = me_status(client, seller.access)
    assert status == 401 and body["error"]["code"] == "session_revoked"
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": seller.refresh})
    assert refresh.status_code == 401 and refresh.json()["error"]["code"] == "session_revoked"
    again = client.post("/api/v1/auth/logout", headers=bearer)
    assert again.status_code == 401 and again.json()["error"]["code"] == "session_revoked"
    # Only that sign-in ended.
    assert me_status(client, other_device["access_token"])[0] == 200


def test_logout_without_any_token_is_refused(client: TestClient) -> None:
    for answer in (client.post("/api/v1/auth/logout"), client.post("/api/v1/auth/logout", json={})):
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "not_authenticated"
        assert answer.headers["www-authenticate"] == "Bearer"
    garbage = client.post("/api/v1/auth/logout", headers={"Authorization": "Bearer garbage"})
    assert garbage.status_code == 401 and garbage.json()["error"]["code"] == "invalid_token"


def test_unknown_fields_in_the_auth_bodies_are_ignored(client: TestClient) -> None:
    email = f"{_unique('extra')}@example.com"
    registered = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "phone": "+7 900 000-00-00", "referrer": {"id": 1}},
    )
    assert registered.status_code == 201, registered.text
    signed_in = client.post(
        "/api/v1/auth/login",
        json={"username": email, "password": PASSWORD, "remember_me": True, "client_id": "script"},
    )
    assert signed_in.status_code == 200, signed_in.text
    refreshed = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": signed_in.json()["refresh_token"], "device": "x"}
    )
    assert refreshed.status_code == 200, refreshed.text
    out = client.post(
        "/api/v1/auth/logout", json={"refresh_token": refreshed.json()["refresh_token"], "everywhere": False}
    )
    assert out.status_code == 204
    assert me_status(client, refreshed.json()["access_token"])[0] == 401


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "register",
            {"email": "a@example.com", "password": PASSWORD, "telegram_id": "not a number"},
            "telegram_id",
        ),
        ("register", {"email": "a@example.com", "password": PASSWORD, "telegram_id": True}, "telegram_id"),
        (
            "register",
            {"email": "a@example.com", "password": PASSWORD, "telegram_id": "123456"},
            "telegram_id",
        ),
        ("register", {"email": "a@example.com", "password": PASSWORD, "telegram_id": -5}, "telegram_id"),
        ("register", {"email": 12345, "password": PASSWORD}, "email"),
        ("register", {"email": "a@example.com", "password": ["a", "list"]}, "password"),
        ("register", {"email": "a@example.com", "password": PASSWORD, "tenant_name": 7}, "tenant_name"),
        ("login", {"username": 12345, "password": PASSWORD}, "username"),
        ("login", {"email": "a@example.com", "password": 12345678}, "password"),
        ("login", {"username": {"email": "a@example.com"}, "password": PASSWORD}, "username"),
        ("refresh", {"refresh_token": 42}, "refresh_token"),
        ("logout", {"refresh_token": ["x"]}, "refresh_token"),
    ],
)
def test_wrong_types_are_still_refused(client: TestClient, path: str, body: dict, field: str) -> None:
    answer = client.post(f"/api/v1/auth/{path}", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert {d["field"] for d in error["details"]} == {f"body.{field}"}
    assert PASSWORD not in answer.text


def test_login_names_no_account_when_neither_email_nor_username_is_sent(client: TestClient) -> None:
    answer = client.post("/api/v1/auth/login", json={"login": "a@example.com", "password": PASSWORD})
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["message"].endswith("email or username is required")

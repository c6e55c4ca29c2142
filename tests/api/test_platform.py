"""What every route shares: the error shape and its language, security headers, request ids,
CORS, health, Prometheus metrics, JSON logs — and no secret in any body or log line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from sandbox.scenario import Scenario
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.conftest import FERNET_KEY, JWT_SECRET, PASSWORD, Seller, make_settings, register
from tests.api.test_isolation import record_run
from warehouse import users


def test_errors_share_one_shape_in_the_requests_language(client: TestClient, seller: Seller) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error == {
        "code": "not_found",
        "message": "Не найдено",
        "request_id": missing.headers["x-request-id"],
    }
    assert (
        client.delete("/api/v1/auth/me", headers=seller.auth).json()["error"]["code"] == "method_not_allowed"
    )

    english = client.get(
        "/api/v1/products/1", headers={**seller.auth, "Accept-Language": "en-GB,en;q=0.9,ru;q=0.5"}
    )
    assert english.json()["error"]["message"] == "Product not found"
    russian = client.get("/api/v1/products/1", headers={**seller.auth, "Accept-Language": "ru-RU,en;q=0.1"})
    assert russian.json()["error"]["message"] == "Товар не найден"
    # Without Accept-Language, the tenant's locale decides.
    client.patch("/api/v1/tenants/me", json={"locale": "en"}, headers=seller.auth)
    assert (
        client.get("/api/v1/products/1", headers=seller.auth).json()["error"]["message"]
        == "Product not found"
    )

    invalid = client.get("/api/v1/products/", params={"page": "x", "page_size": 0}, headers=seller.auth)
    body = invalid.json()["error"]
    assert invalid.status_code == 422 and body["code"] == "validation_error"
    assert {d["field"] for d in body["details"]} == {"query.page", "query.page_size"}


def test_an_unexpected_error_is_a_bare_500(
    client: TestClient, seller: Seller, monkeypatch: pytest.MonkeyPatch, json_logs: io.StringIO
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"connection string with password={PASSWORD} and token {seller.access}")

    monkeypatch.setattr(users, "list_users", broken)
    response = client.get("/api/v1/tenants/me/users", headers=seller.auth)
    assert response.status_code == 500
    error = response.json()["error"]
    assert set(error) == {"code", "message", "request_id"} and error["code"] == "internal_error"
    assert "RuntimeError" not in response.text and PASSWORD not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"  # still stamped
    logged = json_logs.getvalue()
    assert "RuntimeError" in logged and error["request_id"] in logged
    assert PASSWORD not in logged and seller.access not in logged


def test_security_headers_request_id_and_cors(tmp_path: Path, app_db: str, sandbox: SandboxServer) -> None:
    settings = make_settings(tmp_path, app_db, sandbox, cors_origins="https://app.example.com")
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/health/live", headers={"X-Request-ID": "lb-1234abcd"})
        headers = response.headers
        assert headers["x-request-id"] == "lb-1234abcd"
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert (
            headers["referrer-policy"] == "no-referrer" and "max-age" in headers["strict-transport-security"]
        )
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert headers["cache-control"] == "no-store"
        generated = client.get("/api/v1/health/live", headers={"X-Request-ID": "bad id <script>"}).headers[
            "x-request-id"
        ]
        assert len(generated) == 32 and generated.isalnum()

        preflight = client.options(
            "/api/v1/products/",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        evil = client.get("/api/v1/health/live", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in evil.headers

        docs = client.get("/docs")
        assert docs.status_code == 200 and "swagger-ui" in docs.text
        assert "script-src" in docs.headers["content-security-policy"]
        assert client.get("/redoc").status_code == 200
        assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "Stock Tracker API"


def test_health(client: TestClient) -> None:
    assert client.get("/api/v1/health/live").json() == {"status": "ok", "checks": {}}
    assert client.get("/api/v1/health/").status_code == 200
    ready = client.get("/api/v1/health/ready")  # the test app's Dagster URL has nobody listening
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "checks": {"database": "ok", "dagster": "unavailable"}}


def test_metrics_by_route_template_and_business_gauges(
    client: TestClient, settings: Settings, seller: Seller
) -> None:
    for product in (1, 2, 3):
        client.get(f"/api/v1/products/{product}", headers=seller.auth)
    client.get("/nowhere/at/all")
    record_run(settings, seller.tenant_id, f"metrics-{seller.tenant_id}")
    text = client.get("/metrics").text
    route = 'route="/api/v1/products/{product_id}"'
    assert f'stock_tracker_http_requests_total{{method="GET",{route},status="404"}} 3.0' in text
    assert 'route="unmatched"' in text and "/nowhere" not in text
    assert 'stock_tracker_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
    tenants = [line for line in text.splitlines() if line.startswith('stock_tracker_tenants{tier="starter"}')]
    assert tenants and float(tenants[0].split()[-1]) >= 1
    gauge = 'stock_tracker_last_successful_sync_age_seconds{tier="starter"}'
    age = [line for line in text.splitlines() if line.startswith(gauge)]
    assert age and float(age[0].split()[-1]) >= 0
    assert "stock_tracker_app_database_up 1.0" in text


def test_no_secret_in_any_body_or_log_line(
    client: TestClient, scenario: Scenario, json_logs: io.StringIO
) -> None:
    wb = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")["credentials"]
    ozon = next(s for s in scenario["sellers"] if s["marketplace"] == "ozon")["credentials"]
    bodies: list[str] = []

    def call(method: str, path: str, **kwargs: object) -> dict:
        response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        bodies.append(response.text)
        return response.json() if response.content else {}

    seller = register(client)
    auth = seller.auth
    call("POST", "/api/v1/auth/login", json={"email": seller.email, "password": "wrong " + PASSWORD})
    tokens = call("POST", "/api/v1/auth/login", json={"email": seller.email, "password": PASSWORD})
    call("POST", "/api/v1/credentials/", json={"marketplace": "wildberries", **wb}, headers=auth)
    call("POST", "/api/v1/credentials/", json={"marketplace": "ozon", **ozon}, headers=auth)
    call(
        "POST",
        "/api/v1/credentials/",
        json={"marketplace": "ozon", "client_id": "1", "api_key": "not-" + ozon["api_key"]},
        headers=auth,
    )
    call("GET", "/api/v1/credentials/status", headers=auth)
    call("GET", "/api/v1/auth/me", headers=auth)
    call("POST", "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    call("POST", "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})  # a replay
    call("POST", "/api/v1/auth/logout", json={"refresh_token": seller.refresh})
    call("GET", "/api/v1/tenants/me", headers={"Authorization": f"Bearer {seller.access}x"})
    call("POST", "/api/v1/auth/register", json={"email": "bad", "password": PASSWORD, "tenant_name": "x"})

    # Tokens appear in the bodies that issue them, and nowhere else; the rest appear nowhere.
    secrets = [PASSWORD, wb["token"], ozon["api_key"], JWT_SECRET, FERNET_KEY]
    issued = [seller.access, seller.refresh, tokens["access_token"], tokens["refresh_token"]]
    everything = "\n".join(bodies)
    logged = json_logs.getvalue()
    for secret in secrets:
        assert secret not in everything
    for secret in secrets + issued:
        assert secret not in logged
    # The logs are JSON lines with the request's route template and id.
    lines = [json.loads(line) for line in logged.splitlines()]
    access = [line for line in lines if line["logger"] == "stock_tracker.api.access"]
    assert {line["route"] for line in access} >= {"/api/v1/auth/login", "/api/v1/credentials/"}
    assert all(line["request_id"] for line in access)

"""Marketplace keys: checked with the (sandbox) marketplace before storing, never shown again."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import create_app
from sandbox.scenario import Scenario
from sandbox.server import SandboxServer
from tests.api.conftest import Seller, make_settings, register
from warehouse.app_db import engine_for


def keys(scenario: Scenario) -> tuple[dict, dict]:
    sellers = scenario["sellers"]
    wb = next(s for s in sellers if s["marketplace"] == "wildberries")["credentials"]
    ozon = next(s for s in sellers if s["marketplace"] == "ozon")["credentials"]
    return dict(wb), dict(ozon)


def test_a_good_key_is_checked_stored_encrypted_and_shown_by_fingerprint_only(
    client: TestClient, seller: Seller, scenario: Scenario, app_db: str
) -> None:
    wb, ozon = keys(scenario)
    created = client.post(
        "/api/v1/credentials/", json={"marketplace": "wildberries", **wb}, headers=seller.auth
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["connected"] and body["valid"] and body["status"] == "valid"
    assert body["fingerprint"] == hashlib.sha256(wb["token"].encode()).hexdigest()[:12]
    assert body["expires_at"].startswith("2100-01-01")  # the WB token's own `exp`
    assert wb["token"] not in created.text

    # A second marketplace takes the Pro plan (DESIGN §6a; tests/api/test_billing.py has the limit).
    with engine_for(app_db).begin() as connection:
        connection.execute(text("update tenants set tier = 'pro' where id = :id"), {"id": seller.tenant_id})
    assert (
        client.post(
            "/api/v1/credentials/", json={"marketplace": "ozon", **ozon}, headers=seller.auth
        ).status_code
        == 201
    )
    status = client.get("/api/v1/credentials/status", headers=seller.auth)
    assert status.status_code == 200
    by_marketplace = {s["marketplace"]: s for s in status.json()}
    assert by_marketplace["ozon"]["fingerprint"].startswith(ozon["client_id"] + "/")
    assert by_marketplace["ozon"]["expires_at"] is None and by_marketplace["ozon"]["last_checked_at"]
    for secret in (wb["token"], ozon["api_key"]):
        assert secret not in status.text
    with engine_for(app_db).connect() as connection:
        stored = [r[0] for r in connection.execute(text("select secret from marketplace_credentials"))]
    assert stored and not any(wb["token"] in s or ozon["api_key"] in s for s in stored)


def test_a_bad_key_is_refused_with_the_marketplaces_reason_and_not_stored(
    client: TestClient, seller: Seller
) -> None:
    bad = client.post(
        "/api/v1/credentials/",
        json={
            "marketplace": "ozon",
            "client_id": "5003914",
            "api_key": "00000000-0000-0000-0000-000000000000",
        },
        headers=seller.auth,
    )
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "credentials_rejected"
    assert error["message"].startswith("Маркетплейс не принял ключ: Ozon")
    status = client.get("/api/v1/credentials/status", headers=seller.auth).json()
    assert not any(s["connected"] for s in status)

    wrong_fields = client.post(
        "/api/v1/credentials/", json={"marketplace": "wildberries", "api_key": "x"}, headers=seller.auth
    )
    assert wrong_fields.status_code == 422 and wrong_fields.json()["error"]["code"] == "validation_error"


def test_an_unreachable_marketplace_is_not_a_bad_key(
    tmp_path: Path, app_db: str, sandbox: SandboxServer, scenario: Scenario
) -> None:
    settings = make_settings(tmp_path, app_db, sandbox).model_copy(
        update={"wb_content_url": "http://127.0.0.1:9", "wb_common_url": "http://127.0.0.1:9"}
    )
    with TestClient(create_app(settings)) as client:
        seller = register(client)
        wb, _ = keys(scenario)
        response = client.post(
            "/api/v1/credentials/", json={"marketplace": "wildberries", **wb}, headers=seller.auth
        )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "marketplace_unavailable"
    assert response.headers["retry-after"] == "30"


def test_delete_disconnects_and_a_missing_key_is_404(
    client: TestClient, seller: Seller, scenario: Scenario
) -> None:
    wb, _ = keys(scenario)
    client.post("/api/v1/credentials/", json={"marketplace": "wildberries", **wb}, headers=seller.auth)
    assert client.delete("/api/v1/credentials/wildberries", headers=seller.auth).status_code == 204
    again = client.delete("/api/v1/credentials/wildberries", headers=seller.auth)
    assert again.status_code == 404 and again.json()["error"]["code"] == "credentials_not_found"
    assert client.delete("/api/v1/credentials/amazon", headers=seller.auth).status_code == 422

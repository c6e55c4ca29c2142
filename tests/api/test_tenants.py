"""Tenant settings and users: who may read, who may change, and what a change may be."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import PASSWORD, Seller, add_member


def test_settings_read_and_update(client: TestClient, seller: Seller) -> None:
    changed = client.patch(
        "/api/v1/tenants/me",
        json={
            "name": "Ромашка и партнёры",
            "spreadsheet_id": "https://docs.google.com/spreadsheets/d/1AbC_def-GHI/edit#gid=0",
            "telegram_chat_id": "-1001234567890",
            "locale": "en",
            "timezone": "Asia/Yekaterinburg",
            "orders_window_days": 14,
            "low_stock_days": 21,
        },
        headers=seller.auth,
    )
    assert changed.status_code == 200, changed.text
    tenant = client.get("/api/v1/tenants/me", headers=seller.auth).json()
    assert tenant["name"] == "Ромашка и партнёры"
    assert tenant["spreadsheet_id"] == "1AbC_def-GHI"  # the id, cut out of the pasted URL
    assert (tenant["telegram_chat_id"], tenant["locale"], tenant["timezone"]) == (
        "-1001234567890",
        "en",
        "Asia/Yekaterinburg",
    )
    assert (tenant["orders_window_days"], tenant["low_stock_days"]) == (14, 21)

    partial = client.patch("/api/v1/tenants/me", json={"spreadsheet_id": ""}, headers=seller.auth)
    assert partial.json()["spreadsheet_id"] is None and partial.json()["low_stock_days"] == 21


def test_invalid_settings_are_refused_with_the_field_named(client: TestClient, seller: Seller) -> None:
    for body in (
        {"orders_window_days": 10},
        {"low_stock_days": 0},
        {"timezone": "Mars/Olympus"},
        {"locale": "de"},
        {"telegram_chat_id": "not a chat"},
        {"name": None},
        {"tier": "enterprise"},  # the plan is billing's business, not a setting
    ):
        response = client.patch("/api/v1/tenants/me", json=body, headers=seller.auth)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] in ("validation_error", "invalid_setting")
    unchanged = client.get("/api/v1/tenants/me", headers=seller.auth).json()
    assert unchanged["orders_window_days"] == 7 and unchanged["tier"] == "starter"


def test_roles_viewers_read_admins_change_settings_owners_manage_users(
    client: TestClient, seller: Seller
) -> None:
    admin = add_member(client, seller, "admin")
    viewer = add_member(client, seller, "viewer")

    for who in (seller, admin, viewer):
        assert client.get("/api/v1/tenants/me", headers=who.auth).status_code == 200
        assert client.get("/api/v1/products/", headers=who.auth).status_code == 200
        assert client.get("/api/v1/tenants/me/users", headers=who.auth).status_code == 200

    writes = [
        ("PATCH", "/api/v1/tenants/me", {"low_stock_days": 30}),
        ("POST", "/api/v1/credentials/", {"marketplace": "wildberries", "token": "eyJ.x.y"}),
        ("DELETE", "/api/v1/credentials/wildberries", None),
        ("POST", "/api/v1/sync/", None),
        ("POST", "/api/v1/products/sync", None),
        (
            "POST",
            "/api/v1/tenants/me/users",
            {"email": "v2@example.com", "password": PASSWORD, "role": "viewer"},
        ),
        ("PATCH", f"/api/v1/tenants/me/users/{admin.user_id}", {"role": "viewer"}),
        ("DELETE", f"/api/v1/tenants/me/users/{admin.user_id}", None),
    ]
    for method, path, body in writes:
        response = client.request(method, path, json=body, headers=viewer.auth)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden_role"

    assert (
        client.patch("/api/v1/tenants/me", json={"low_stock_days": 30}, headers=admin.auth).status_code == 200
    )
    for method, path, body in writes[-3:]:
        assert client.request(method, path, json=body, headers=admin.auth).status_code == 403

    promoted = client.patch(
        f"/api/v1/tenants/me/users/{viewer.user_id}", json={"role": "admin"}, headers=seller.auth
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert (
        client.patch("/api/v1/tenants/me", json={"low_stock_days": 9}, headers=viewer.auth).status_code == 200
    )

    removed = client.delete(f"/api/v1/tenants/me/users/{admin.user_id}", headers=seller.auth)
    assert removed.status_code == 204
    assert client.get("/api/v1/tenants/me", headers=admin.auth).status_code == 401
    emails = {u["email"] for u in client.get("/api/v1/tenants/me/users", headers=seller.auth).json()}
    assert emails == {seller.email, viewer.email}


def test_the_last_owner_stays(client: TestClient, seller: Seller) -> None:
    demote = client.patch(
        f"/api/v1/tenants/me/users/{seller.user_id}", json={"role": "admin"}, headers=seller.auth
    )
    assert demote.status_code == 409 and demote.json()["error"]["code"] == "last_owner"
    remove = client.delete(f"/api/v1/tenants/me/users/{seller.user_id}", headers=seller.auth)
    assert remove.status_code == 409
    second = add_member(client, seller, "owner")
    assert client.delete(f"/api/v1/tenants/me/users/{seller.user_id}", headers=second.auth).status_code == 204


def test_a_new_user_with_a_taken_email_is_refused(client: TestClient, seller: Seller, other: Seller) -> None:
    response = client.post(
        "/api/v1/tenants/me/users",
        json={"email": other.email, "password": PASSWORD, "role": "viewer"},
        headers=seller.auth,
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "email_taken"

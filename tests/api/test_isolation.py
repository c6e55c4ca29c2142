"""Tenant isolation: another tenant's ids are 404 everywhere, and with the app's tenant scoping
removed on purpose, PostgreSQL row-level security still shows a tenant only its own rows."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sandbox.scenario import Scenario
from settings import Settings
from tests.api.conftest import Seller, add_member
from warehouse import sync_runs, tenants, users
from warehouse.app_db import session_factory
from warehouse.models import MarketplaceCredential, SyncRun, Tenant, User
from warehouse.tenant_scope import tenant_session


def connect_ozon(client: TestClient, seller: Seller, scenario: Scenario) -> None:
    ozon = next(s for s in scenario["sellers"] if s["marketplace"] == "ozon")["credentials"]
    response = client.post("/api/v1/credentials/", json={"marketplace": "ozon", **ozon}, headers=seller.auth)
    assert response.status_code == 201, response.text


def record_run(settings: Settings, tenant_id: str, run_id: str) -> None:
    with session_factory(settings.app_database_url)() as session:
        sync_runs.start_sync_run(session, tenant_id, "api", "starter", run_id, status="running")
        sync_runs.finish_sync_run(session, run_id, "success")


def test_another_tenants_ids_are_not_found(
    client: TestClient, settings: Settings, seller: Seller, other: Seller, scenario: Scenario
) -> None:
    their_viewer = add_member(client, other, "viewer")
    connect_ozon(client, other, scenario)
    record_run(settings, other.tenant_id, f"run-of-{other.tenant_id}")

    attempts = [
        ("PATCH", f"/api/v1/tenants/me/users/{their_viewer.user_id}", {"role": "admin"}, "user_not_found"),
        ("DELETE", f"/api/v1/tenants/me/users/{their_viewer.user_id}", None, "user_not_found"),
        ("DELETE", f"/api/v1/tenants/me/users/{other.user_id}", None, "user_not_found"),
        ("GET", f"/api/v1/sync/status/run-of-{other.tenant_id}", None, "sync_run_not_found"),
        ("DELETE", "/api/v1/credentials/ozon", None, "credentials_not_found"),
    ]
    for method, path, body, code in attempts:
        response = client.request(method, path, json=body, headers=seller.auth)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == code
    # Nothing of theirs changed, and they still see it all.
    their_users = client.get("/api/v1/tenants/me/users", headers=other.auth).json()
    assert {u["role"] for u in their_users} == {"owner", "viewer"}
    assert client.get(f"/api/v1/sync/status/run-of-{other.tenant_id}", headers=other.auth).status_code == 200
    status = client.get("/api/v1/credentials/status", headers=other.auth).json()
    assert [s["connected"] for s in status] == [False, True]
    # And nothing of theirs shows in ours.
    assert {u["email"] for u in client.get("/api/v1/tenants/me/users", headers=seller.auth).json()} == {
        seller.email
    }
    assert client.get("/api/v1/sync/history", headers=seller.auth).json()["total"] == 0


def test_row_level_security_holds_when_the_app_forgets_to_scope(
    client: TestClient,
    settings: Settings,
    seller: Seller,
    other: Seller,
    scenario: Scenario,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connect_ozon(client, other, scenario)
    record_run(settings, other.tenant_id, f"run-of-{other.tenant_id}")
    record_run(settings, seller.tenant_id, f"run-of-{seller.tenant_id}")

    # The bug on purpose: reads that ignore the tenant they are given.
    monkeypatch.setattr(
        users, "list_users", lambda session, tenant_id: list(session.scalars(select(User).order_by(User.id)))
    )
    monkeypatch.setattr(
        tenants,
        "credential_status",
        lambda session, tenant_id: [
            tenants._status_of(row) for row in session.scalars(select(MarketplaceCredential))
        ],
    )
    monkeypatch.setattr(
        sync_runs,
        "recent_sync_runs",
        lambda session, tenant_id, limit=20, offset=0: list(session.scalars(select(SyncRun).limit(limit))),
    )

    listed = client.get("/api/v1/tenants/me/users", headers=seller.auth).json()
    assert [u["email"] for u in listed] == [seller.email]
    assert not any(
        s["connected"] for s in client.get("/api/v1/credentials/status", headers=seller.auth).json()
    )
    history = client.get("/api/v1/sync/history", headers=seller.auth).json()
    assert [run["id"] for run in history["items"]] == [f"run-of-{seller.tenant_id}"]

    # Without the wall (the owner's session, as sign-in uses) the same queries see everyone:
    # the filtering above was the database's doing.
    with session_factory(settings.app_database_url)() as unscoped:
        assert len(users.list_users(unscoped, seller.tenant_id)) >= 2


def test_a_tenant_session_cannot_read_or_write_another_tenant(
    settings: Settings, seller: Seller, other: Seller
) -> None:
    with tenant_session(settings.app_database_url, seller.tenant_id) as session:
        assert session.get(Tenant, other.tenant_id) is None
        assert session.scalar(select(func.count()).select_from(Tenant)) == 1
        assert {u.tenant_id for u in session.scalars(select(User))} == {seller.tenant_id}
        assert (
            session.execute(
                text("select count(*) from users where tenant_id = :t"), {"t": other.tenant_id}
            ).scalar()
            == 0
        )
        session.add(
            User(tenant_id=other.tenant_id, email="planted@example.com", password_hash="x", role="owner")
        )
        with pytest.raises(DBAPIError, match="row-level security"):
            session.commit()
        session.rollback()
        updated = session.execute(
            text("update tenants set name = 'pwned' where id = :t"), {"t": other.tenant_id}
        ).rowcount
        assert updated == 0
        session.rollback()
    # A session that never set a tenant sees nothing under the tenant role.
    with Session(bind=session_factory(settings.app_database_url).kw["bind"]) as raw:
        raw.execute(text("set local role stock_tracker_tenant"))
        assert raw.execute(text("select count(*) from users")).scalar() == 0

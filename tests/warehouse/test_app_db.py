"""The app database on SQLite and PostgreSQL: migrations, tenants, encrypted keys, sync runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.orm import Session

from warehouse import sync_runs, tenants
from warehouse.app_db import MIGRATIONS, database_url, engine_for, migrate, schema_diff, session_factory
from warehouse.vault import CredentialVault, VaultError, generate_key

WB_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2VjcmV0LXNpZ25hdHVyZQ"
OZON = {"client_id": "8428578", "api_key": "5a78b24f-f996-4ba6-8251-42bec771fc56"}


@pytest.fixture(params=["sqlite", "postgresql"])
def app_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'app.db'}"  # the parent is created on demand
    return request.getfixturevalue("pg_url")


@pytest.fixture
def session(app_url: str) -> Iterator[Session]:
    migrate(app_url)
    with session_factory(app_url)() as open_session:
        yield open_session
    engine_for(app_url).dispose()  # let the fixture drop the PostgreSQL database


@pytest.fixture
def vault() -> CredentialVault:
    return CredentialVault([generate_key()])


def raw_secrets(session: Session) -> list[str]:
    return [row[0] for row in session.execute(text("select secret from marketplace_credentials"))]


# --- schema ------------------------------------------------------------------------------------


def test_migrate_is_idempotent_and_matches_the_models(app_url: str) -> None:
    migrate(app_url)
    migrate(app_url)  # every CLI command and process start runs it
    assert schema_diff(app_url) == []  # `alembic check`: the revisions describe the models exactly
    with engine_for(app_url).connect() as connection:
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert connection.execute(text("select version_num from alembic_version")).scalar() == head
    engine_for(app_url).dispose()


def test_urls_are_normalized_for_psycopg_3() -> None:
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


# --- tenants -----------------------------------------------------------------------------------


def test_tenant_defaults_and_settings(session: Session) -> None:
    tenant = tenants.create_tenant(session, "acme-shop", "Acme Shop")
    assert (tenant.tier, tenant.status, tenant.locale, tenant.timezone) == (
        "starter",
        "active",
        "ru",
        "Europe/Moscow",
    )
    assert (tenant.orders_window_days, tenant.low_stock_days) == (7, 14)
    assert tenant.created_at.tzinfo is not None

    tenants.update_settings(
        session,
        "acme-shop",
        locale="en",
        orders_window_days=30,
        spreadsheet_id="https://docs.google.com/spreadsheets/d/1AbC-dEf_123/edit#gid=0",
        telegram_chat_id=-100123,
    )
    tenants.set_tier(session, "acme-shop", "enterprise")
    session.expire_all()
    again = tenants.get_tenant(session, "acme-shop")
    assert again is not None
    assert (again.locale, again.orders_window_days, again.tier) == ("en", 30, "enterprise")
    assert (again.spreadsheet_id, again.telegram_chat_id) == ("1AbC-dEf_123", "-100123")
    assert again.updated_at >= again.created_at


@pytest.mark.parametrize(
    ("tenant_id", "kwargs", "message"),
    [
        ("Acme", {}, "not a slug"),
        ("acme_shop", {}, "not a slug"),
        ("-acme", {}, "not a slug"),
        ("a" * 41, {}, "not a slug"),
        ("acme", {"tier": "gold"}, "unknown tier"),
        ("acme", {"locale": "de"}, "unknown locale"),
        ("acme", {"timezone": "Mars/Olympus"}, "unknown timezone"),
        ("acme", {"orders_window_days": 10}, "orders_window_days must be one of 7, 14, 30"),
        ("acme", {"low_stock_days": 0}, "low_stock_days"),
        ("acme", {"telegram_chat_id": "not a chat"}, "telegram_chat_id"),
        ("acme", {"colour": "red"}, "unknown tenant setting"),
    ],
)
def test_bad_tenants_are_refused_with_a_reason(
    session: Session, tenant_id: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        tenants.create_tenant(session, tenant_id, "Acme", **kwargs)  # type: ignore[arg-type]
    assert tenants.list_tenants(session, include_deleted=True) == []


def test_duplicate_and_missing_tenants(session: Session) -> None:
    tenants.create_tenant(session, "acme", "Acme")
    with pytest.raises(ValueError, match="already exists"):
        tenants.create_tenant(session, "acme", "Acme again")
    with pytest.raises(tenants.TenantNotFound):
        tenants.set_tier(session, "nobody", "pro")
    assert tenants.get_tenant(session, "nobody") is None


def test_active_tenants_carry_what_a_sync_needs(session: Session, vault: CredentialVault) -> None:
    tenants.create_tenant(session, "b-shop", "B", tier="pro", timezone="Asia/Yekaterinburg")
    tenants.create_tenant(session, "a-shop", "A")
    tenants.create_tenant(session, "c-shop", "C")
    tenants.store_credentials(session, vault, "b-shop", "ozon", OZON)
    tenants.store_credentials(session, vault, "b-shop", "wildberries", {"token": WB_TOKEN})
    tenants.set_status(session, "c-shop", "suspended")

    active = tenants.active_tenants(session)
    assert [t.id for t in active] == ["a-shop", "b-shop"]
    b = active[1]
    assert (b.tier, b.timezone, b.marketplaces) == ("pro", "Asia/Yekaterinburg", ("ozon", "wildberries"))
    assert active[0].marketplaces == ()
    with pytest.raises(AttributeError):
        b.tier = "starter"  # type: ignore[misc]


def test_deleting_a_tenant_hides_it_and_erases_its_keys(session: Session, vault: CredentialVault) -> None:
    tenants.create_tenant(session, "gone", "Gone")
    tenants.store_credentials(session, vault, "gone", "wildberries", {"token": WB_TOKEN})
    tenants.set_status(session, "gone", "deleted")
    assert tenants.list_tenants(session) == []
    assert [t.id for t in tenants.list_tenants(session, include_deleted=True)] == ["gone"]
    assert raw_secrets(session) == []
    with pytest.raises(tenants.TenantNotFound):
        tenants.store_credentials(session, vault, "gone", "wildberries", {"token": WB_TOKEN})


# --- credentials -------------------------------------------------------------------------------


def test_credentials_are_stored_encrypted_and_round_trip(session: Session, vault: CredentialVault) -> None:
    tenants.create_tenant(session, "acme", "Acme")
    expires = datetime(2100, 1, 1, tzinfo=UTC)
    wb = tenants.store_credentials(
        session,
        vault,
        "acme",
        "wildberries",
        {"token": f"  {WB_TOKEN}\n"},
        status="valid",
        message="ok",
        expires_at=expires,
    )
    ozon = tenants.store_credentials(session, vault, "acme", "ozon", OZON)

    stored = raw_secrets(session)
    assert len(stored) == 2
    assert not any(WB_TOKEN in s or OZON["api_key"] in s or "8428578" in s for s in stored)
    assert tenants.load_credentials(session, vault, "acme") == {
        "wildberries": {"token": WB_TOKEN},
        "ozon": OZON,
    }

    assert len(wb.fingerprint) == 12 and wb.fingerprint not in WB_TOKEN
    assert ozon.fingerprint.startswith("8428578/") and len(ozon.fingerprint) == len("8428578/") + 12
    status = {s.marketplace: s for s in tenants.credential_status(session, "acme")}
    assert (status["wildberries"].status, status["wildberries"].expires_at) == ("valid", expires)
    assert status["wildberries"].last_checked_at is not None
    assert (status["ozon"].status, status["ozon"].last_checked_at) == ("unchecked", None)
    assert WB_TOKEN not in repr(status) and OZON["api_key"] not in repr(status)


def test_storing_again_replaces_the_key(session: Session, vault: CredentialVault) -> None:
    tenants.create_tenant(session, "acme", "Acme")
    first = tenants.store_credentials(session, vault, "acme", "ozon", OZON)
    second = tenants.store_credentials(session, vault, "acme", "ozon", {**OZON, "api_key": "other-key"})
    assert first.fingerprint != second.fingerprint
    assert tenants.load_credentials(session, vault, "acme") == {"ozon": {**OZON, "api_key": "other-key"}}
    assert len(raw_secrets(session)) == 1


def test_credentials_are_scoped_by_tenant(session: Session, vault: CredentialVault) -> None:
    tenants.create_tenant(session, "one", "One")
    tenants.create_tenant(session, "two", "Two")
    tenants.store_credentials(session, vault, "one", "wildberries", {"token": WB_TOKEN})
    assert tenants.load_credentials(session, vault, "two") == {}
    assert tenants.credential_status(session, "two") == []
    with pytest.raises(LookupError, match="no wildberries credentials"):
        tenants.delete_credentials(session, "two", "wildberries")
    tenants.delete_credentials(session, "one", "wildberries")
    assert tenants.load_credentials(session, vault, "one") == {}


@pytest.mark.parametrize(
    ("marketplace", "fields", "message"),
    [
        ("ozon", {"client_id": "1"}, "need api_key"),
        ("wildberries", {"token": "  "}, "need token"),
        ("wildberries", {"token": "t", "api_key": "k"}, "take no api_key"),
        ("yandex", {"token": "t"}, "unknown marketplace"),
    ],
)
def test_incomplete_credentials_are_refused(
    session: Session, vault: CredentialVault, marketplace: str, fields: dict[str, str], message: str
) -> None:
    tenants.create_tenant(session, "acme", "Acme")
    with pytest.raises(ValueError, match=message):
        tenants.store_credentials(session, vault, "acme", marketplace, fields)
    assert raw_secrets(session) == []


def test_mark_checked_records_the_outcome(session: Session, vault: CredentialVault) -> None:
    tenants.create_tenant(session, "acme", "Acme")
    tenants.store_credentials(session, vault, "acme", "wildberries", {"token": WB_TOKEN}, status="valid")
    checked = tenants.mark_checked(session, "acme", "wildberries", status="invalid", message="revoked")
    assert (checked.status, checked.check_message) == ("invalid", "revoked")


def test_rotating_keys_reencrypts_every_secret(session: Session) -> None:
    old_key, new_key = generate_key(), generate_key()
    old = CredentialVault([old_key])
    for tenant_id in ("one", "two"):
        tenants.create_tenant(session, tenant_id, tenant_id.title())
        tenants.store_credentials(session, old, tenant_id, "wildberries", {"token": f"{WB_TOKEN}{tenant_id}"})
    tenants.store_credentials(session, old, "two", "ozon", OZON)
    before = raw_secrets(session)

    assert tenants.rotate_keys(session, CredentialVault([new_key, old_key])) == 3

    after = raw_secrets(session)
    assert set(after).isdisjoint(before)
    only_new = CredentialVault([new_key])
    assert tenants.load_credentials(session, only_new, "one") == {"wildberries": {"token": f"{WB_TOKEN}one"}}
    assert tenants.load_credentials(session, only_new, "two")["ozon"] == OZON
    with pytest.raises(VaultError):
        tenants.load_credentials(session, CredentialVault([old_key]), "one")


def test_rotation_without_the_old_key_changes_nothing(session: Session) -> None:
    old = CredentialVault([generate_key()])
    tenants.create_tenant(session, "acme", "Acme")
    tenants.store_credentials(session, old, "acme", "wildberries", {"token": WB_TOKEN})
    tenants.store_credentials(session, old, "acme", "ozon", OZON)
    before = sorted(raw_secrets(session))
    with pytest.raises(VaultError, match="keep the old key"):
        tenants.rotate_keys(session, CredentialVault([generate_key()]))
    assert sorted(raw_secrets(session)) == before
    assert tenants.load_credentials(session, old, "acme")["ozon"] == OZON


# --- sync runs ---------------------------------------------------------------------------------


def test_sync_run_bookkeeping(session: Session) -> None:
    tenants.create_tenant(session, "acme", "Acme", tier="pro")
    tenants.create_tenant(session, "other", "Other")
    assert sync_runs.running_sync_run(session, "acme") is None

    first = sync_runs.start_sync_run(session, "acme", "schedule", "pro", run_id="dagster-1")
    assert sync_runs.running_sync_run(session, "acme") == first
    assert sync_runs.running_sync_run(session, "other") is None
    done = sync_runs.finish_sync_run(session, "dagster-1", "success", counts={"products": 12})
    assert (done.status, done.counts) == ("success", {"products": 12})
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert sync_runs.running_sync_run(session, "acme") is None

    second = sync_runs.start_sync_run(session, "acme", "manual", "pro", status="queued")
    sync_runs.mark_sync_run_running(session, second.id, run_id="dagster-2")
    token_in_error = f"WB said no to {WB_TOKEN} (HTTP 401)"
    sync_runs.finish_sync_run(session, second, "failed", error=token_in_error)
    third = sync_runs.start_sync_run(session, "acme", "api", "pro")
    sync_runs.finish_sync_run(session, third.id, "skipped", error="tenant is on starter now")

    session.expire_all()
    recent = sync_runs.recent_sync_runs(session, "acme", limit=2)
    assert [r.status for r in recent] == ["skipped", "failed"]
    assert [r.status for r in sync_runs.recent_sync_runs(session, "acme", limit=5, offset=2)] == ["success"]
    failed = recent[1]
    assert failed.run_id == "dagster-2"
    assert failed.error is not None and WB_TOKEN not in failed.error and "HTTP 401" in failed.error
    assert failed.started_at.tzinfo is not None
    assert datetime.now(UTC) - failed.started_at < timedelta(minutes=5)
    assert sync_runs.recent_sync_runs(session, "other", 10) == []


def test_sync_runs_refuse_bad_values(session: Session) -> None:
    tenants.create_tenant(session, "acme", "Acme")
    with pytest.raises(ValueError, match="trigger"):
        sync_runs.start_sync_run(session, "acme", "cron", "starter")
    with pytest.raises(ValueError, match="tier"):
        sync_runs.start_sync_run(session, "acme", "cli", "gold")
    with pytest.raises(LookupError):
        sync_runs.start_sync_run(session, "nobody", "cli", "starter")
    run = sync_runs.start_sync_run(session, "acme", "cli", "starter")
    with pytest.raises(ValueError, match="status"):
        sync_runs.finish_sync_run(session, run, "running")
    with pytest.raises(LookupError):
        sync_runs.finish_sync_run(session, "no-such-run", "success")

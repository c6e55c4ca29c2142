"""Linked Telegram chats and one-time link codes on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from warehouse import telegram_chats as tc
from warehouse.app_db import engine_for, migrate, schema_diff, session_factory
from warehouse.models import TelegramLinkCode
from warehouse.tenant_scope import tenant_session
from warehouse.tenants import create_tenant


@pytest.fixture(params=["sqlite", "postgresql"])
def app_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def session(app_url: str) -> Iterator[Session]:
    migrate(app_url)
    with session_factory(app_url)() as open_session:
        create_tenant(open_session, "alpha", "Alpha", low_stock_days=10, locale="en")
        create_tenant(open_session, "beta", "Beta")
        yield open_session
    engine_for(app_url).dispose()


def test_schema_matches_the_models(session: Session, app_url: str) -> None:
    assert schema_diff(app_url) == []


def test_a_code_links_once_and_only_its_tenant(session: Session) -> None:
    code = tc.create_link_code(session, "alpha")
    assert code.expires_at - datetime.now(UTC) <= timedelta(minutes=15)
    # Only the hash is stored.
    stored = session.scalars(select(TelegramLinkCode.code_hash)).all()
    assert code.code not in stored and len(stored) == 1
    chat = tc.redeem_link_code(session, code.code, chat_id=-100123, kind="supergroup", title="Team")
    assert (chat.tenant_id, chat.language, chat.low_cover_days, chat.active) == ("alpha", "en", 10, True)
    with pytest.raises(tc.LinkRefused) as used:
        tc.redeem_link_code(session, code.code, chat_id=555, kind="private")
    assert used.value.reason == "used"
    assert [c.chat_id for c in tc.active_chats(session, "alpha")] == [-100123]
    assert tc.active_chats(session, "beta") == []


def test_expired_and_unknown_codes_are_refused(session: Session) -> None:
    old = tc.create_link_code(session, "alpha", now=datetime.now(UTC) - timedelta(minutes=16))
    with pytest.raises(tc.LinkRefused) as expired:
        tc.redeem_link_code(session, old.code, chat_id=1, kind="private")
    assert expired.value.reason == "expired"
    for bad in ("nope", "", "x" * 65, "bad code!"):
        with pytest.raises(tc.LinkRefused):
            tc.redeem_link_code(session, bad, chat_id=1, kind="private")
    assert tc.list_chats(session, "alpha") == []


def test_inactive_chats_get_nothing_until_linked_again(session: Session) -> None:
    tc.link_chat(session, "alpha", 42, kind="private")
    tc.mark_inactive(session, 42, tc.BLOCKED)
    assert tc.active_chats(session, "alpha") == []
    assert tc.list_chats(session, "alpha")[0].inactive_reason == "blocked"
    tc.link_chat(session, "alpha", 42, kind="private")
    assert tc.active_chats(session, "alpha")[0].inactive_reason is None


def test_settings_are_checked_before_writing(session: Session) -> None:
    tc.link_chat(session, "beta", 7, kind="private")
    with pytest.raises(ValueError):
        tc.update_chat_settings(session, 7, report_mode="daily", daily_hour=24)
    with pytest.raises(ValueError):
        tc.update_chat_settings(session, 7, quiet_start=22)
    assert tc.chat_by_telegram_id(session, 7).report_mode == "every_sync"  # type: ignore[union-attr]
    chat = tc.update_chat_settings(session, 7, quiet_start=22, quiet_end=8, timezone="Asia/Yekaterinburg")
    # 23:00 in Yekaterinburg (UTC+5) is quiet; noon is not.
    assert tc.in_quiet_hours(chat, datetime(2026, 1, 1, 18, tzinfo=UTC))
    assert not tc.in_quiet_hours(chat, datetime(2026, 1, 1, 7, tzinfo=UTC))


def test_unlink_by_row_id_is_scoped_to_the_tenant(session: Session, app_url: str) -> None:
    chat = tc.link_chat(session, "alpha", 99, kind="private")
    with pytest.raises(tc.ChatNotLinked):
        tc.unlink_chat(session, "beta", chat.id)
    if app_url.startswith("postgresql"):
        # Row-level security: beta's scoped session does not even see alpha's chat.
        with tenant_session(app_url, "beta") as scoped:
            assert scoped.execute(text("select count(*) from telegram_chats")).scalar() == 0
    tc.unlink_chat(session, "alpha", chat.id)
    assert tc.list_chats(session, "alpha") == []


def test_an_upgraded_group_keeps_its_link_under_the_new_id(session: Session) -> None:
    tc.link_chat(session, "alpha", -170, kind="group", title="Склад")
    tc.update_chat_settings(session, -170, report_mode="alerts")
    tc.move_chat(session, -170, -1001700)
    moved = tc.chat_by_telegram_id(session, -1001700)
    assert moved is not None and (moved.kind, moved.report_mode, moved.tenant_id) == (
        "supergroup",
        "alerts",
        "alpha",
    )
    assert tc.chat_by_telegram_id(session, -170) is None

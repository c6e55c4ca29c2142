"""Linking chats: a one-time link from the API, `/start <code>` (valid, expired, reused), the
Telegram id given at sign-up, several chats per tenant, /stop and the API unlinking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from settings import Settings
from tests.api.conftest import PASSWORD, Seller, add_member, register
from tests.bot.conftest import RunningBot, Tg, link, new_chat_id
from warehouse.app_db import session_factory
from warehouse.models import User
from warehouse.telegram_chats import create_link_code


def test_a_link_works_once_for_one_chat(client: TestClient, seller: Seller, bot: RunningBot, tg: Tg) -> None:
    made = client.post("/api/v1/telegram/link", headers=seller.auth)
    assert made.status_code == 201
    body = made.json()
    assert body["url"].startswith("https://t.me/stock_tracker_7100001_bot?start=")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    code = body["url"].split("start=")[1]

    person, group = new_chat_id(), new_chat_id(group=True)
    assert "привязан к «ООО Ромашка»" in tg.answer(person, f"/start {code}")
    # The same link again, from a team group: refused, the group stays unlinked.
    assert "уже использована" in tg.answer(group, f"/start {code}", title="Склад")
    assert "не привязан" in tg.answer(group, "/status", title="Склад")
    # A second link for the group: several chats per tenant.
    assert "привязан" in link(client, tg, seller, group, title="Склад")
    listed = client.get("/api/v1/telegram/chats", headers=seller.auth).json()
    assert {(c["chat_id"], c["kind"], c["active"]) for c in listed} == {
        (person, "private", True),
        (group, "supergroup", True),
    }


def test_expired_and_unknown_codes_are_refused(
    settings: Settings, seller: Seller, bot: RunningBot, tg: Tg
) -> None:
    with session_factory(settings.app_database_url)() as session:
        old = create_link_code(session, seller.tenant_id, now=datetime.now(UTC) - timedelta(minutes=16))
    chat = new_chat_id()
    assert "устарела" in tg.answer(chat, f"/start {old.code}")
    assert "недействительна" in tg.answer(chat, "/start not-a-real-code")
    # An English-speaking user reads English.
    assert "not valid" in tg.answer(chat, "/start another-wrong-one", language_code="en")


def test_the_telegram_id_given_at_sign_up_links_that_users_chat(
    client: TestClient, bot: RunningBot, tg: Tg
) -> None:
    user_id = new_chat_id()
    seller = register(client, "Shop With Telegram", telegram_id=user_id)
    assert "привязан к «Shop With Telegram»" in tg.answer(user_id, "/start")
    assert "уже привязан" in tg.answer(user_id, "/start")
    chats = client.get("/api/v1/telegram/chats", headers=seller.auth).json()
    assert [(c["chat_id"], c["kind"]) for c in chats] == [(user_id, "private")]
    # Somebody else's plain /start links nothing.
    assert "не привязан" in tg.answer(new_chat_id(), "/start")


def test_stop_and_the_api_unlink(client: TestClient, seller: Seller, bot: RunningBot, tg: Tg) -> None:
    other = register(client, "Other Shop")
    first, second = new_chat_id(), new_chat_id()
    link(client, tg, seller, first)
    link(client, tg, seller, second)
    assert "отвязан" in tg.answer(first, "/stop")
    assert "не привязан" in tg.answer(first, "/status")
    chats = client.get("/api/v1/telegram/chats", headers=seller.auth).json()
    assert [c["chat_id"] for c in chats] == [second]
    # Another tenant cannot unlink it, nor see it.
    assert client.delete(f"/api/v1/telegram/chats/{chats[0]['id']}", headers=other.auth).status_code == 404
    assert client.get("/api/v1/telegram/chats", headers=other.auth).json() == []
    assert client.delete(f"/api/v1/telegram/chats/{chats[0]['id']}", headers=seller.auth).status_code == 204
    assert "не привязан" in tg.answer(second, "/status")


def test_linking_needs_an_owner_or_admin(client: TestClient, seller: Seller) -> None:
    viewer = add_member(client, seller, "viewer")
    refused = client.post("/api/v1/telegram/link", headers=viewer.auth)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"
    assert client.post("/api/v1/telegram/link").status_code == 401


def test_a_viewers_chat_reads_but_does_not_sync_or_connect(
    client: TestClient, seller: Seller, bot: RunningBot, tg: Tg
) -> None:
    user_id = new_chat_id()
    made = client.post(
        "/api/v1/tenants/me/users",
        json={"email": f"viewer-{user_id}@example.com", "password": PASSWORD, "role": "viewer"},
        headers=seller.auth,
    )
    assert made.status_code == 201, made.text
    # The viewer's Telegram id, as given at sign-up (the users API does not take it).
    with session_factory(client.app.state.settings.app_database_url)() as session:  # type: ignore[attr-defined]
        session.execute(update(User).where(User.id == made.json()["id"]).values(telegram_id=user_id))
        session.commit()
    assert "привязан к «ООО Ромашка»" in tg.answer(user_id, "/start")
    assert "<b>Состояние «ООО Ромашка»</b>" in tg.answer(user_id, "/status")
    assert tg.answer(user_id, "/sync") == "Недостаточно прав: это могут роли owner, admin"
    assert tg.answer(user_id, "/connect") == "Недостаточно прав: это могут роли owner, admin"
    # Removing the user removes the chat that spoke for them.
    assert (
        client.delete(f"/api/v1/tenants/me/users/{made.json()['id']}", headers=seller.auth).status_code == 204
    )
    assert "не привязан" in tg.answer(user_id, "/status")

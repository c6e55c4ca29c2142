"""The Telegram routes' edges: the webhook's bad bodies, a server without a bot, Telegram away."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from sandbox.server import SandboxServer
from tests.api.conftest import make_settings, register
from tests.bot.conftest import WEBHOOK_SECRET

HOOK = "/api/v1/telegram/webhook"


def test_the_webhook_refuses_bodies_that_are_not_updates(client: TestClient) -> None:
    signed = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET, "Content-Type": "application/json"}
    for body in (b"not json", b"[1, 2]", b'{"message": {}}'):
        answer = client.post(HOOK, content=body, headers=signed)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_body"


def test_without_a_bot_the_routes_say_so(tmp_path: Path, app_db: str, sandbox: SandboxServer) -> None:
    settings = make_settings(tmp_path, app_db, sandbox)  # no token
    with TestClient(create_app(settings)) as client:
        seller = register(client)
        made = client.post("/api/v1/telegram/link", headers=seller.auth)
        assert made.status_code == 503 and made.json()["error"]["code"] == "telegram_not_configured"
        assert client.post(HOOK, json={"update_id": 1}).status_code == 503
        assert client.get("/api/v1/telegram/chats", headers=seller.auth).json() == []


def test_telegram_away_is_a_503_with_retry_after(tmp_path: Path, app_db: str, sandbox: SandboxServer) -> None:
    settings = make_settings(
        tmp_path, app_db, sandbox, telegram_bot_token="7100003:AAH" + "q" * 32
    ).model_copy(update={"telegram_api_url": "http://127.0.0.1:9"})
    with TestClient(create_app(settings)) as client:
        seller = register(client)
        made = client.post("/api/v1/telegram/link", headers=seller.auth)
        assert made.status_code == 503 and made.json()["error"]["code"] == "telegram_unavailable"
        assert made.headers["Retry-After"] == "30"

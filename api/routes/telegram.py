"""Telegram: a one-time link for a chat, the linked chats, and the bot's webhook (DESIGN §6b)."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

import anyio.from_thread
import orjson
from fastapi import APIRouter, Path, Request, Response, status
from telegram.error import TelegramError

from api.bot.app import BotHolder
from api.deps import CurrentUser, EditorUser, SettingsDep, TenantSessionDep
from api.errors import ApiError, responses
from api.models import TelegramChatOut, TelegramLinkOut
from api.routes import API_PREFIX
from warehouse import telegram_chats as chats

log = logging.getLogger("stock_tracker.api")
router = APIRouter(prefix=f"{API_PREFIX}/telegram", tags=["telegram"])
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _holder(request: Request) -> BotHolder:
    holder: BotHolder = request.app.state.telegram
    if not holder.configured:
        raise ApiError(503, "telegram_not_configured")
    return holder


@router.post("/link", status_code=status.HTTP_201_CREATED, responses=responses(401, 403, 429, 503))
def create_link(request: Request, principal: EditorUser, session: TenantSessionDep) -> TelegramLinkOut:
    """A one-time deep link that links the Telegram chat opening it (a person or a team group) to
    your account: it works once, for 15 minutes (owners and admins)."""
    holder = _holder(request)
    try:
        username = anyio.from_thread.run(holder.username)
    except TelegramError as exc:
        log.warning("telegram unavailable: %s", type(exc).__name__)
        raise ApiError(503, "telegram_unavailable", headers={"Retry-After": "30"}) from None
    code = chats.create_link_code(session, principal.tenant_id, principal.user.id)
    return TelegramLinkOut(
        url=f"https://t.me/{username}?start={code.code}",
        group_url=f"https://t.me/{username}?startgroup={code.code}",
        expires_at=code.expires_at,
    )


@router.get("/chats", responses=responses(401, 403, 429))
def list_chats(principal: CurrentUser, session: TenantSessionDep) -> list[TelegramChatOut]:
    """The chats linked to your account; inactive ones say why (the bot was blocked, …)."""
    return [
        TelegramChatOut.model_validate(chat, from_attributes=True)
        for chat in chats.list_chats(session, principal.tenant_id)
    ]


@router.delete(
    "/chats/{chat_ref}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404, 422, 429)
)
def unlink_chat(
    chat_ref: Annotated[int, Path(ge=1, le=2**31 - 1, description="The `id` from the chat list.")],
    principal: EditorUser,
    session: TenantSessionDep,
) -> Response:
    """Unlink a chat: no more reports or alerts there (owners and admins)."""
    try:
        chats.unlink_chat(session, principal.tenant_id, chat_ref)
    except chats.ChatNotLinked:
        raise ApiError(404, "telegram_chat_not_found") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/webhook", include_in_schema=False)
async def webhook(request: Request, settings: SettingsDep) -> Response:
    """Updates from Telegram (registered with `stock-tracker bot --webhook-url`). Only a request
    carrying the secret given at setWebhook is processed; anything else is 401 and ignored."""
    holder = _holder(request)
    expected = settings.telegram_webhook_secret
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "invalid_webhook_secret")
    try:
        update = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_body") from None
    if not isinstance(update, dict) or "update_id" not in update:
        raise ApiError(400, "invalid_body")
    await holder.process(update)
    return Response(status_code=status.HTTP_200_OK)

"""The bot's handlers: thin async wrappers that find the chat's tenant, run the command's view in a
worker thread (the views use the synchronous database code the API uses) and answer through the
one sender (resources/telegram_sender.py), so every answer is paced under Telegram's limits.

Nothing here logs a message's text: a /connect message holds a marketplace key.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackContext, ContextTypes

from api.bot import views
from api.bot.texts import t
from api.dagster_client import DagsterClient
from resources.telegram_sender import TelegramSender
from settings import Settings

log = logging.getLogger("stock_tracker.bot")
CONTEXT_KEY = "stock_tracker"


@dataclass
class BotContext:
    settings: Settings
    sender: TelegramSender
    dagster: DagsterClient


Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


def bot_context(context: CallbackContext[Any, Any, Any, Any]) -> BotContext:
    return context.application.bot_data[CONTEXT_KEY]


def _language(update: Update) -> str:
    code = (update.effective_user.language_code or "") if update.effective_user else ""
    return "en" if code.startswith("en") else "ru"


async def _linked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> views.Chat | None:
    """The chat's link, or None after telling the chat how to link."""
    ctx = bot_context(context)
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    chat = await asyncio.to_thread(views.linked_chat, ctx.settings, chat_id)
    if chat is None:
        await ctx.sender.send_message(chat_id, t("not_linked", _language(update)))
    return chat


def guarded(handler: Handler) -> Handler:
    """A failing command answers "failed, retry" and logs the error's type, never the update."""

    async def run(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await handler(update, context)
        except Exception as exc:  # one command's failure must not stop the bot
            # Where, not what: an exception's text may quote the message (a /connect key).
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            log.error(
                "bot command %s failed: %s at %s:%d",
                handler.__name__,
                type(exc).__name__,
                frame.filename,
                frame.lineno,
            )
            if update.effective_chat is not None:
                await bot_context(context).sender.send_message(
                    update.effective_chat.id, t("error", _language(update))
                )

    return run


# --- linking -----------------------------------------------------------------------------------


@guarded
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ctx = bot_context(context)
    chat = update.effective_chat
    assert chat is not None
    code = context.args[0] if context.args else ""
    user_id = update.effective_user.id if update.effective_user else None
    text = await asyncio.to_thread(
        views.start, ctx.settings, chat.id, chat.type, chat.title, user_id, code, _language(update)
    )
    await ctx.sender.send_message(chat.id, text)


@guarded
async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ctx = bot_context(context)
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    text = await asyncio.to_thread(views.stop, ctx.settings, chat_id, _language(update))
    await ctx.sender.send_message(chat_id, text)


@guarded
async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ctx = bot_context(context)
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    chat = await asyncio.to_thread(views.linked_chat, ctx.settings, chat_id)
    await ctx.sender.send_message(chat_id, views.help_text(chat.language if chat else _language(update)))


# --- reading -----------------------------------------------------------------------------------


@guarded
async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = await _linked(update, context)
    if chat is not None:
        ctx = bot_context(context)
        await ctx.sender.send_message(chat.chat_id, await asyncio.to_thread(views.status, ctx.settings, chat))


@guarded
async def sync(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = await _linked(update, context)
    if chat is not None:
        ctx = bot_context(context)
        text = await asyncio.to_thread(views.sync, ctx.settings, chat, ctx.dagster)
        await ctx.sender.send_message(chat.chat_id, text)


@guarded
async def stock(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = await _linked(update, context)
    if chat is not None:
        ctx = bot_context(context)
        query = " ".join(context.args or [])
        await ctx.sender.send_message(
            chat.chat_id, await asyncio.to_thread(views.stock, ctx.settings, chat, query)
        )


async def _pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[Any, views.Chat] | None:
    """The pressed button's callback query and its linked chat; from an unlinked chat the press is
    only acknowledged (None)."""
    query = update.callback_query
    assert query is not None
    chat = await _linked(update, context)
    if chat is None:
        await query.answer()
        return None
    return query, chat


# A paged list (/low, /plan): its view gives page N of the chat's tenant as text and ◀ ▶ buttons.
PagedView = Callable[[Settings, views.Chat, int], views.Reply]


def paged(name: str, view: PagedView) -> tuple[Handler, Handler]:
    """The command's handler (page 1, a new message) and its ◀ ▶ handler (the page replaces the
    message's text: editMessageText)."""

    async def first(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = await _linked(update, context)
        if chat is not None:
            ctx = bot_context(context)
            reply = await asyncio.to_thread(view, ctx.settings, chat, 1)
            await ctx.sender.send_message(chat.chat_id, reply.text, reply_markup=reply.markup)

    async def turn(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        pressed = await _pressed(update, context)
        if pressed is None:
            return
        query, chat = pressed
        ctx = bot_context(context)
        page = int(str(query.data).split(":", 1)[1])
        reply = await asyncio.to_thread(view, ctx.settings, chat, page)
        await _edit(query, reply)
        await query.answer()

    first.__name__, turn.__name__ = name, f"{name}_page"  # what `guarded` logs on a failure
    return guarded(first), guarded(turn)


low, low_page = paged("low", views.low)
plan, plan_page = paged("plan", views.plan)


async def _edit(query: Any, reply: views.Reply) -> None:
    try:
        await query.edit_message_text(reply.text, parse_mode="HTML", reply_markup=reply.markup)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():  # the same page pressed twice
            raise


@guarded
async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = await _linked(update, context)
    if chat is not None:
        ctx = bot_context(context)
        reply = await asyncio.to_thread(views.export, ctx.settings, chat)
        if reply.document is None:
            await ctx.sender.send_message(chat.chat_id, reply.text)
        else:
            data, name = reply.document
            await ctx.sender.send_document(chat.chat_id, data, name, reply.text)


# --- settings ----------------------------------------------------------------------------------


@guarded
async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = await _linked(update, context)
    if chat is not None:
        reply = views.settings_menu(chat)
        await bot_context(context).sender.send_message(chat.chat_id, reply.text, reply_markup=reply.markup)


@guarded
async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    pressed = await _pressed(update, context)
    if pressed is None:
        return
    query, chat = pressed
    ctx = bot_context(context)
    try:
        chat = await asyncio.to_thread(views.apply_setting, ctx.settings, chat, str(query.data))
    except (ValueError, LookupError):
        await query.answer(t("error", chat.language))
        return
    await _edit(query, views.settings_menu(chat))
    await query.answer(t("saved", chat.language))


# --- /connect ----------------------------------------------------------------------------------


async def _delete(update: Update) -> None:
    """Delete the message holding a key at once, before anything else is done with it."""
    message = update.effective_message
    if message is None:
        return
    try:
        await message.delete()
    except TelegramError as exc:
        log.warning("could not delete a message holding a key: %s", type(exc).__name__)


@guarded
async def connect(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/connect` asks for the key (next message), `/connect <key>` takes it in one message; keys
    are taken in private chats only, never in a group where everyone would see them."""
    ctx = bot_context(context)
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    if context.args:
        await _delete(update)
    chat = await _linked(update, context)
    if chat is None:
        return
    if chat.kind != "private":
        await ctx.sender.send_message(chat_id, t("connect_private", chat.language))
        return
    if not chat.can_edit:
        await ctx.sender.send_message(chat_id, views.forbidden(chat))
        return
    if not context.args:
        await asyncio.to_thread(views.await_key, ctx.settings, chat_id)
        await ctx.sender.send_message(chat_id, t("connect_help", chat.language))
        return
    await _take_key(ctx, chat, " ".join(context.args))


@guarded
async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A plain message: the key after `/connect`; anything else gets the help."""
    ctx = bot_context(context)
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    if not await asyncio.to_thread(views.take_awaiting_key, ctx.settings, chat_id):
        chat = await asyncio.to_thread(views.linked_chat, ctx.settings, chat_id)
        lang = chat.language if chat else _language(update)
        await ctx.sender.send_message(chat_id, views.help_text(lang))
        return
    await _delete(update)
    chat = await _linked(update, context)
    if chat is not None:
        await _take_key(ctx, chat, (update.effective_message.text or "") if update.effective_message else "")


async def _take_key(ctx: BotContext, chat: views.Chat, text: str) -> None:
    key = views.parse_key(text)
    if key is None:
        await ctx.sender.send_message(chat.chat_id, t("connect_format", chat.language))
        return
    answer = await asyncio.to_thread(views.connect, ctx.settings, chat, key)
    await ctx.sender.send_message(chat.chat_id, answer)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """PTB's own errors (network, a failed edit): the type only; the update may hold a key."""
    log.error("telegram update failed: %s", type(context.error).__name__)

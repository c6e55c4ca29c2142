"""The Bot API under `/telegram` (Telegram's `https://api.telegram.org`): `POST|GET
/bot<token>/<method>` with query, form, JSON or multipart parameters, `{"ok": true, "result"}` or
Telegram's error shape; and `/_control/telegram/*` to play the users: write to the bot, press its
buttons, block it, and read what each chat was sent."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from sandbox.http import json_response, read_json
from sandbox.telegram import entities
from sandbox.telegram.errors import BotApiError, TelegramErrors, bad_request, error_response
from sandbox.telegram.model import Bot, Chat, TelegramSandbox

TELEGRAM_KEY = web.AppKey("telegram", TelegramSandbox)
PREFIX = "/telegram"
# Parameters Telegram takes as JSON-serialised objects in form and multipart bodies.
JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
    }
)
PHOTO_MAX = 10 * 1024**2  # Telegram: photos up to 10 MB
DOCUMENT_MAX = 50 * 1024**2  # documents up to 50 MB
Files = dict[str, tuple[str, bytes]]
Method = Callable[[TelegramSandbox, Bot, dict[str, Any], Files], Awaitable[Any]]


async def _params(request: web.Request) -> tuple[dict[str, Any], Files]:
    params: dict[str, Any] = dict(request.query)
    files: Files = {}
    ctype = request.content_type
    if request.method == "POST" and ctype == "application/json":
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        params.update(body)
    elif request.method == "POST" and ctype.startswith("multipart/"):
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files[name] = (value.filename, value.file.read())
            else:
                params[name] = value
    elif request.method == "POST":
        params.update(await request.post())
    for key in JSON_PARAMS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = orjson.loads(params[key])
            except orjson.JSONDecodeError:
                raise bad_request(f"can't parse {key} JSON object") from None
    return params, files


def _int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None or value == "":
        raise bad_request(f"{name} is empty" if name != "chat_id" else "chat_id is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _bool(value: Any) -> bool:
    return value in (True, "true", "True", "1", 1)


def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is not None:
        for row in rows:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
                if "text" not in button:
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
    return markup


# --- methods -------------------------------------------------------------------------------


async def get_me(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    return {
        **bot.user(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


async def set_my_commands(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    commands = p.get("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be an array of at most 100 BotCommand")
    for command in commands:
        name = str(command.get("command", ""))
        if not (1 <= len(name) <= 32 and name.replace("_", "").isalnum() and name.islower()):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    key = f"{orjson.dumps(p.get('scope') or {'type': 'default'}).decode()}|{p.get('language_code', '')}"
    bot.commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
    return True


async def get_my_commands(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    key = f"{orjson.dumps(p.get('scope') or {'type': 'default'}).decode()}|{p.get('language_code', '')}"
    return bot.commands.get(key, [])


async def get_updates(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    if bot.webhook_url:
        raise BotApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    offset = int(p.get("offset") or 0)
    limit = max(1, min(100, int(p.get("limit") or 100)))
    timeout = max(0.0, float(p.get("timeout") or 0))
    if offset > 0:
        # An offset confirms every update before it: Telegram forgets them.
        bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
    allowed = p.get("allowed_updates")
    deadline = time.monotonic() + timeout
    while True:
        pending = [u for u in bot.updates if not allowed or any(k in u for k in allowed)]
        if pending or time.monotonic() >= deadline:
            return pending[:limit]
        bot.arrived.clear()
        try:
            await asyncio.wait_for(bot.arrived.wait(), timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return []


async def set_webhook(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    url = str(p.get("url") or "")
    secret = p.get("secret_token")
    if url and not url.startswith(("https://", "http://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if secret is not None and not (
        1 <= len(str(secret)) <= 256 and all(c.isalnum() or c in "_-" for c in str(secret))
    ):
        raise bad_request("bad webhook: Secret token contains unallowed characters")
    if _bool(p.get("drop_pending_updates")):
        bot.updates.clear()
    bot.webhook_url, bot.webhook_secret, bot.webhook_last_error = url, (str(secret) if secret else None), None
    bot.arrived.set()
    return True


async def delete_webhook(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    if _bool(p.get("drop_pending_updates")):
        bot.updates.clear()
    bot.webhook_url, bot.webhook_secret = "", None
    return True


async def get_webhook_info(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    info: dict[str, Any] = {
        "url": bot.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": len(bot.updates),
    }
    if bot.webhook_last_error:
        info["last_error_date"], info["last_error_message"] = bot.webhook_last_error
    return info


def _text_fields(p: dict[str, Any], key: str, *, caption: bool) -> dict[str, Any]:
    text = str(p.get(key) or "")
    if not text and caption:
        return {}
    visible = entities.visible_text(text, p.get("parse_mode"))
    entities.check_length(
        visible, entities.CAPTION_LIMIT if caption else entities.TEXT_LIMIT, caption=caption
    )
    # The Message carries the text as the user sees it (entities are not modelled).
    return {key: visible}


async def send_message(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    chat = s.writable_chat(p.get("chat_id"))
    fields = _text_fields(p, "text", caption=False)
    markup = _markup(p)
    s.check_flood(bot, chat)
    if markup:
        fields["reply_markup"] = markup
    return s.bot_message(bot, chat, fields)


def _upload(s: TelegramSandbox, p: dict[str, Any], f: Files, key: str, limit: int) -> tuple[str, bytes, str]:
    value = p.get(key)
    if key in f:
        name, data = f[key]
    elif isinstance(value, str) and value.startswith("attach://") and value[9:] in f:
        name, data = f[value[9:]]
    elif isinstance(value, str) and value in s.files:
        name, data = s.files[value]
    elif isinstance(value, str) and value.startswith(("http://", "https://")):
        raise bad_request("wrong file identifier/HTTP URL specified")
    elif value:
        raise bad_request("wrong remote file identifier specified: Wrong string length")
    else:
        raise bad_request(f"there is no {key} in the request")
    if not data:
        raise bad_request("file must be non-empty")
    if len(data) > limit:
        raise BotApiError(413, "Request Entity Too Large")
    file_id, unique = s.store_file(name, data)
    return file_id, data, unique


def _image_size(data: bytes) -> tuple[int, int]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:3] == b"\xff\xd8\xff":
        return 0, 0  # a JPEG: its size is in a frame header; not needed here
    raise bad_request("IMAGE_PROCESS_FAILED")


async def send_photo(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    chat = s.writable_chat(p.get("chat_id"))
    file_id, data, unique = _upload(s, p, f, "photo", PHOTO_MAX)
    width, height = _image_size(data)
    fields = _text_fields(p, "caption", caption=True)
    markup = _markup(p)
    s.check_flood(bot, chat)
    fields["photo"] = [
        {
            "file_id": file_id,
            "file_unique_id": unique,
            "width": width,
            "height": height,
            "file_size": len(data),
        }
    ]
    if markup:
        fields["reply_markup"] = markup
    return s.bot_message(bot, chat, fields)


async def send_document(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    chat = s.writable_chat(p.get("chat_id"))
    file_id, data, unique = _upload(s, p, f, "document", DOCUMENT_MAX)
    fields = _text_fields(p, "caption", caption=True)
    markup = _markup(p)
    s.check_flood(bot, chat)
    name = s.files[file_id][0]
    fields["document"] = {
        "file_id": file_id,
        "file_unique_id": unique,
        "file_name": name,
        "mime_type": _mime(name),
        "file_size": len(data),
    }
    if markup:
        fields["reply_markup"] = markup
    return s.bot_message(bot, chat, fields)


def _mime(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".xlsx"):
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if lower.endswith(".csv"):
        return "text/csv"
    if lower.endswith(".png"):
        return "image/png"
    return "application/octet-stream"


def _own_message(s: TelegramSandbox, bot: Bot, p: dict[str, Any]) -> tuple[Chat, dict[str, Any]]:
    chat = s.writable_chat(p.get("chat_id"))
    message = chat.messages.get(_int(p, "message_id"))
    if message is None:
        raise bad_request("message to edit not found")
    if message.get("from", {}).get("id") != bot.id:
        raise bad_request("message can't be edited")
    return chat, message


async def edit_message_text(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    if p.get("inline_message_id"):
        raise bad_request("inline messages are not supported by the sandbox")
    _, message = _own_message(s, bot, p)
    fields = _text_fields(p, "text", caption=False)
    markup = _markup(p)
    if fields["text"] == message.get("text") and markup == message.get("reply_markup"):
        raise bad_request(
            "message is not modified: specified new message content and reply markup are "
            "exactly the same as a current content and reply markup of the message"
        )
    message["text"] = fields["text"]
    message["edit_date"] = int(time.time())
    if markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)
    return message


async def delete_message(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    chat = s.writable_chat(p.get("chat_id"))
    message_id = _int(p, "message_id")
    if message_id not in chat.messages:
        raise bad_request("message to delete not found")
    del chat.messages[message_id]
    chat.deleted.append(message_id)
    return True


async def answer_callback_query(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    query = s.callbacks.get(str(p.get("callback_query_id") or ""))
    # Telegram gives a bot about 15 seconds to answer a button press.
    if query is None or query["answered"] or time.monotonic() - query["at"] > 15:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    if p.get("text") and len(str(p["text"])) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query["answered"] = True
    return True


async def send_chat_action(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    s.writable_chat(p.get("chat_id"))
    return True


async def get_chat(s: TelegramSandbox, bot: Bot, p: dict[str, Any], f: Files) -> Any:
    return {**s.chat(p.get("chat_id")).wire(), "accent_color_id": 0, "max_reaction_count": 11}


METHODS: dict[str, Method] = {
    "getme": get_me,
    "setmycommands": set_my_commands,
    "getmycommands": get_my_commands,
    "getupdates": get_updates,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "senddocument": send_document,
    "editmessagetext": edit_message_text,
    "deletemessage": delete_message,
    "answercallbackquery": answer_callback_query,
    "sendchataction": send_chat_action,
    "getchat": get_chat,
}


def _chat_of(s: TelegramSandbox, method: str, p: dict[str, Any]) -> int | None:
    if method == "answerCallbackQuery":
        query = s.callbacks.get(str(p.get("callback_query_id") or ""))
        return query["chat_id"] if query else None
    try:
        return int(p["chat_id"]) if "chat_id" in p else None
    except (TypeError, ValueError):
        return None


def _file_entries(f: Files) -> list[dict[str, Any]]:
    return [
        {
            "field": field,
            "filename": name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "file_id": "BQAC" + hashlib.sha256(data).hexdigest()[:40],
        }
        for field, (name, data) in f.items()
    ]


async def bot_method(request: web.Request) -> web.Response:
    s = request.app[TELEGRAM_KEY]
    from sandbox.server import STATE_KEY

    s.time_scale = request.app[STATE_KEY].switches.time_scale
    bot = s.bot(request.match_info["token"])
    handler = METHODS.get(request.match_info["method"].lower())
    if bot is None or handler is None:
        return error_response(404, "Not Found")
    name = request.match_info["method"]
    params: dict[str, Any] = {}
    files: Files = {}
    try:
        params, files = await _params(request)
        result = await handler(s, bot, params, files)
        response = json_response({"ok": True, "result": result})
        outcome: dict[str, Any] = {"ok": True}
        if isinstance(result, dict) and "message_id" in result:
            outcome["message_id"] = result["message_id"]
    except BotApiError as exc:
        response = exc.response()
        outcome = {"ok": False, "error_code": exc.code, "description": exc.description}
    if name.lower() not in (
        "getupdates",
        "getme",
        "setmycommands",
        "getmycommands",
        "setwebhook",
        "deletewebhook",
        "getwebhookinfo",
    ):
        s.record(_chat_of(s, name, params), name, params, _file_entries(files), outcome)
    return response


# --- webhook delivery --------------------------------------------------------------------------


async def deliver_webhooks(s: TelegramSandbox, scale_of: Callable[[], float]) -> None:
    """POST each bot's updates in order to its webhook, with the secret header, as Telegram does;
    an update stays queued (retried with backoff) until the receiver answers 2xx."""
    import aiohttp

    backoff: dict[str, float] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        while True:
            busy = False
            for bot in list(s.bots.values()):
                if (
                    not bot.webhook_url
                    or not bot.updates
                    or backoff.get(bot.token_hash, 0) > time.monotonic()
                ):
                    continue
                busy = True
                update = bot.updates[0]
                headers = {"Content-Type": "application/json"}
                if bot.webhook_secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = bot.webhook_secret
                try:
                    async with http.post(
                        bot.webhook_url, data=orjson.dumps(update), headers=headers
                    ) as answer:
                        ok = 200 <= answer.status < 300
                        error = f"Wrong response from the webhook: {answer.status} {answer.reason}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    ok, error = False, f"Connection error: {type(exc).__name__}"
                if ok:
                    if bot.updates and bot.updates[0] is update:
                        bot.updates.pop(0)
                    backoff.pop(bot.token_hash, None)
                else:
                    bot.webhook_last_error = (int(time.time()), error)
                    backoff[bot.token_hash] = time.monotonic() + 1.0 / scale_of()
            if not busy:
                await asyncio.sleep(0.01)


# --- control API -------------------------------------------------------------------------------


def _control_error(message: str, status: int = 400) -> web.Response:
    return json_response({"error": "invalid_request", "message": message}, status)


async def control_bots(request: web.Request) -> web.Response:
    """POST {"token", "username"}: the bot's @username (getMe); GET: the bots seen."""
    s = request.app[TELEGRAM_KEY]
    if request.method == "POST":
        body = await read_json(request)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("token"), str)
            or s.bot(body["token"]) is None
        ):
            return _control_error("give a bot `token` (<id>:<secret>) and a `username`")
        username = str(body.get("username") or "")
        s.usernames[body["token"]] = username
        if username:
            s.bots[body["token"]].username = username
    return json_response(
        [
            {
                "id": b.id,
                "username": b.username,
                "webhook_url": b.webhook_url,
                "pending_updates": len(b.updates),
                "commands": b.commands,
            }
            for b in s.bots.values()
        ]
    )


async def control_chats(request: web.Request) -> web.Response:
    """POST a chat or a list of chats ({"id", "type", "title"/"first_name"}) the bot may write to."""
    s = request.app[TELEGRAM_KEY]
    if request.method == "POST":
        body = await read_json(request)
        specs = body if isinstance(body, list) else [body]
        try:
            for spec in specs:
                s.ensure_chat(spec)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return _control_error(f"a chat is {{id, type, title?}}: {exc}")
        return json_response({"chats": len(specs)}, 201)
    return json_response(
        [{**c.wire(), "blocked": c.blocked, "messages": len(c.outbox)} for c in s.chats.values()]
    )


async def control_message(request: web.Request) -> web.Response:
    """A user writes to the bot: {"token"?, "chat": {id, type, …}, "from": {id, …}, "text", "reply_to"?}."""
    s = request.app[TELEGRAM_KEY]
    body = await read_json(request)
    try:
        bot = s.only_bot(body.get("token"))
        chat = s.ensure_chat(body["chat"])
        sender = dict(body.get("from") or {"id": chat.id})
        text = str(body["text"])
        update = s.user_message(bot, chat, sender, text, body.get("reply_to"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return _control_error(f"a message is {{token?, chat, from, text}}: {exc}")
    return json_response(
        {"update_id": update["update_id"], "message_id": update["message"]["message_id"]}, 201
    )


async def control_callback(request: web.Request) -> web.Response:
    """A user presses an inline button: {"token"?, "chat_id", "from"?, "message_id", "data"}."""
    s = request.app[TELEGRAM_KEY]
    body = await read_json(request)
    try:
        bot = s.only_bot(body.get("token"))
        chat = s.chats[int(body["chat_id"])]
        sender = dict(body.get("from") or {"id": chat.id})
        update = s.press_button(bot, chat, sender, int(body["message_id"]), str(body["data"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return _control_error(f"a button press is {{token?, chat_id, message_id, data}}: {exc}")
    return json_response(
        {"update_id": update["update_id"], "callback_query_id": update["callback_query"]["id"]}, 201
    )


async def control_block(request: web.Request) -> web.Response:
    """POST {"blocked": true|false}: the user blocks (or unblocks) the bot in the chat."""
    s = request.app[TELEGRAM_KEY]
    body = await read_json(request)
    chat = s.chats.get(int(request.match_info["chat_id"]))
    if chat is None:
        return _control_error("no such chat", 404)
    chat.blocked = bool((body or {}).get("blocked", True))
    return json_response({**chat.wire(), "blocked": chat.blocked})


async def control_migrate(request: web.Request) -> web.Response:
    """POST {"to": <new id>}: the group is upgraded to a supergroup; sends to the old id get 400
    with `migrate_to_chat_id`."""
    s = request.app[TELEGRAM_KEY]
    body = await read_json(request)
    try:
        chat = s.migrate(int(request.match_info["chat_id"]), int((body or {})["to"]))
    except (KeyError, TypeError, ValueError) as exc:
        return _control_error(f"a migration is {{to}} for a known group: {exc}")
    return json_response(chat.wire(), 201)


async def control_outbox(request: web.Request) -> web.Response:
    """Every Bot API call on the chat in order (method, params, outcome, files), and which user
    messages the bot deleted."""
    s = request.app[TELEGRAM_KEY]
    chat = s.chats.get(int(request.match_info["chat_id"]))
    if chat is None:
        return _control_error("no such chat", 404)
    if request.method == "DELETE":
        chat.outbox.clear()
    return json_response(
        {
            "chat": chat.wire(),
            "calls": chat.outbox,
            "deleted": chat.deleted,
            "messages": list(chat.messages.values()),
        }
    )


async def control_file(request: web.Request) -> web.Response:
    """A file as the bot sent it (by file_id from an outbox entry)."""
    s = request.app[TELEGRAM_KEY]
    found = s.files.get(request.match_info["file_id"])
    if found is None:
        return _control_error("no such file", 404)
    name, data = found
    return web.Response(
        body=data, content_type=_mime(name), headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def register(app: web.Application, telegram: TelegramSandbox | None = None) -> None:
    from sandbox.server import ERRORS_KEY

    app[ERRORS_KEY]["telegram"] = TelegramErrors()
    app[TELEGRAM_KEY] = telegram or TelegramSandbox()
    app.router.add_route("*", PREFIX + "/bot{token}/{method}", bot_method)
    app.router.add_route("*", "/_control/telegram/bots", control_bots)
    app.router.add_route("*", "/_control/telegram/chats", control_chats)
    app.router.add_post("/_control/telegram/messages", control_message)
    app.router.add_post("/_control/telegram/callbacks", control_callback)
    app.router.add_post("/_control/telegram/chats/{chat_id}/block", control_block)
    app.router.add_post("/_control/telegram/chats/{chat_id}/migrate", control_migrate)
    app.router.add_route("*", "/_control/telegram/chats/{chat_id}/outbox", control_outbox)
    app.router.add_get("/_control/telegram/files/{file_id}", control_file)

    async def start_delivery(app: web.Application) -> Any:
        from sandbox.server import STATE_KEY

        state = app[STATE_KEY]
        task = asyncio.create_task(deliver_webhooks(app[TELEGRAM_KEY], lambda: state.switches.time_scale))
        yield
        task.cancel()

    app.cleanup_ctx.append(start_delivery)

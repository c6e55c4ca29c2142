"""Telegram chats linked to tenants and the one-time codes that link them (DESIGN §6b).

The only code that queries `telegram_chats` and `telegram_link_codes`. A chat belongs to one tenant
(its `chat_id` is unique): every read the bot makes starts from the chat and gets that tenant only.
Link codes are single use, live 15 minutes and are stored as SHA-256 hashes, so a database dump
cannot link a chat. Like `tenants.py`, each function validates before it writes and commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from warehouse.models import (
    LOCALES,
    TELEGRAM_CHAT_KINDS,
    TELEGRAM_REPORT_MODES,
    TelegramChat,
    TelegramLinkCode,
    Tenant,
    User,
    utcnow,
)

LINK_CODE_TTL = timedelta(minutes=15)
# How long a bare /connect waits for the key: long enough to copy it from the cabinet, short
# enough that a message written much later is not taken for a key.
AWAITING_KEY_TTL = timedelta(minutes=10)
# Telegram's deep-link `start` parameter: up to 64 of A-Z, a-z, 0-9, _ and -.
_CODE_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# Reasons a chat stopped receiving messages.
BLOCKED, CHAT_NOT_FOUND, UNLINKED = "blocked", "chat_not_found", "unlinked"


class LinkRefused(ValueError):
    """A `/start <code>` that links nothing; `reason` is one of `unknown`, `expired`, `used`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChatNotLinked(LookupError):
    pass


@dataclass(frozen=True)
class LinkCode:
    code: str  # shown once, in the deep link; only its hash is kept
    expires_at: datetime


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def create_link_code(
    session: Session, tenant_id: str, created_by: int | None = None, *, now: datetime | None = None
) -> LinkCode:
    now = now or utcnow()
    code = secrets.token_urlsafe(24)  # 32 characters of the deep-link alphabet
    expires = now + LINK_CODE_TTL
    session.add(
        TelegramLinkCode(
            code_hash=_hash(code),
            tenant_id=tenant_id,
            created_by=created_by,
            created_at=now,
            expires_at=expires,
        )
    )
    session.commit()
    return LinkCode(code, expires)


def redeem_link_code(
    session: Session,
    code: str,
    *,
    chat_id: int,
    kind: str,
    title: str | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> TelegramChat:
    """Link the chat to the code's tenant and spend the code. Refused: unknown, expired or used."""
    now = now or utcnow()
    if not code or len(code) > 64 or not set(code) <= _CODE_ALPHABET:
        raise LinkRefused("unknown")
    row = session.get(TelegramLinkCode, _hash(code), with_for_update=True)
    if row is None:
        raise LinkRefused("unknown")
    if row.used_at is not None:
        raise LinkRefused("used")
    if row.expires_at <= now:
        raise LinkRefused("expired")
    # Spend the code in the same statement that checks it is unspent: two chats racing on one code
    # cannot both win.
    spent = session.execute(
        update(TelegramLinkCode)
        .where(TelegramLinkCode.code_hash == row.code_hash, TelegramLinkCode.used_at.is_(None))
        .values(used_at=now, used_by_chat=chat_id)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise LinkRefused("used")
    return link_chat(
        session,
        row.tenant_id,
        chat_id,
        kind=kind,
        title=title,
        user_id=row.created_by if kind == "private" else None,
        language=language,
    )


def link_chat(
    session: Session,
    tenant_id: str,
    chat_id: int,
    *,
    kind: str,
    title: str | None = None,
    user_id: int | None = None,
    language: str | None = None,
) -> TelegramChat:
    """Link (or re-link, reactivated) a chat to a tenant. A chat linked elsewhere moves here: the
    person holding a fresh code from this tenant decided so."""
    if kind not in TELEGRAM_CHAT_KINDS:
        raise ValueError(f"unknown chat kind {kind!r}; one of {', '.join(TELEGRAM_CHAT_KINDS)}")
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise ChatNotLinked(tenant_id)
    lang = language if language in LOCALES else tenant.locale
    chat = session.scalar(select(TelegramChat).where(TelegramChat.chat_id == chat_id))
    if chat is None:
        chat = TelegramChat(
            chat_id=chat_id,
            tenant_id=tenant_id,
            kind=kind,
            language=lang,
            timezone=tenant.timezone,
            low_cover_days=tenant.low_stock_days,
            report_mode="every_sync",
            daily_hour=9,
            linked_at=utcnow(),
        )
        session.add(chat)
    elif chat.tenant_id != tenant_id:
        # Settings were the old tenant's choices: start from this tenant's defaults.
        chat.tenant_id, chat.language, chat.timezone = tenant_id, lang, tenant.timezone
        chat.low_cover_days, chat.report_mode, chat.daily_hour = tenant.low_stock_days, "every_sync", 9
        chat.quiet_start = chat.quiet_end = None
        chat.linked_at = utcnow()
    chat.kind, chat.title, chat.user_id = kind, title, user_id
    chat.active, chat.inactive_reason = True, None
    session.commit()
    return chat


def link_by_telegram_user(
    session: Session, telegram_user_id: int, *, chat_id: int, language: str | None = None
) -> TelegramChat | None:
    """A plain `/start` in a private chat: link it when a user gave this Telegram id at sign-up.
    Only the first time: a chat the seller unlinked with /stop stays unlinked until a new code."""
    if chat_id != telegram_user_id:
        return None
    if session.scalar(select(TelegramChat.id).where(TelegramChat.chat_id == chat_id)) is not None:
        return None
    users = session.scalars(select(User).where(User.telegram_id == telegram_user_id).order_by(User.id)).all()
    if len(users) != 1:
        # Nobody, or the same Telegram id on two accounts: which tenant is meant is not ours to guess.
        return None
    user = users[0]
    return link_chat(session, user.tenant_id, chat_id, kind="private", user_id=user.id, language=language)


def chat_by_telegram_id(session: Session, chat_id: int) -> TelegramChat | None:
    """The linked, active chat with this Telegram chat id (the bot's entry to a tenant)."""
    return session.scalar(
        select(TelegramChat).where(TelegramChat.chat_id == chat_id, TelegramChat.active.is_(True))
    )


def list_chats(session: Session, tenant_id: str, *, include_inactive: bool = True) -> list[TelegramChat]:
    query = select(TelegramChat).where(TelegramChat.tenant_id == tenant_id)
    if not include_inactive:
        query = query.where(TelegramChat.active.is_(True))
    return list(session.scalars(query.order_by(TelegramChat.id)))


def active_chats(session: Session, tenant_id: str) -> list[TelegramChat]:
    """Where the tenant's reports and alerts go."""
    return list_chats(session, tenant_id, include_inactive=False)


def unlink_chat(session: Session, tenant_id: str, id: int) -> None:
    """Remove a tenant's chat by its row id (the API's DELETE); another tenant's id is not found."""
    chat = session.scalar(
        select(TelegramChat).where(TelegramChat.id == id, TelegramChat.tenant_id == tenant_id)
    )
    if chat is None:
        raise ChatNotLinked(str(id))
    session.delete(chat)
    session.commit()


def unlink_telegram_chat(session: Session, chat_id: int) -> bool:
    """`/stop` in a chat: forget the link. True when something was linked."""
    chat = session.scalar(select(TelegramChat).where(TelegramChat.chat_id == chat_id))
    if chat is None:
        return False
    session.delete(chat)
    session.commit()
    return True


def mark_inactive(session: Session, chat_id: int, reason: str) -> None:
    """Stop sending to a chat (the bot was blocked or the chat is gone); the link is kept so the
    seller sees why in the chat list, and a new `/start` reactivates it."""
    session.execute(
        update(TelegramChat)
        .where(TelegramChat.chat_id == chat_id)
        .values(active=False, inactive_reason=reason[:200], updated_at=utcnow())
    )
    session.commit()


def await_key(session: Session, chat_id: int, now: datetime | None = None) -> None:
    """After a bare /connect: the chat's next message is the key (for `AWAITING_KEY_TTL`)."""
    until = (now or utcnow()) + AWAITING_KEY_TTL
    session.execute(
        update(TelegramChat).where(TelegramChat.chat_id == chat_id).values(awaiting_key_until=until)
    )
    session.commit()


def take_awaiting_key(session: Session, chat_id: int, now: datetime | None = None) -> bool:
    """True once if the chat was waiting for a key and the wait has not run out; the wait ends
    either way. One UPDATE, so two workers taking the chat's next messages cannot both see it."""
    now = now or utcnow()
    taken = session.execute(
        update(TelegramChat)
        .where(
            TelegramChat.chat_id == chat_id,
            TelegramChat.awaiting_key_until.is_not(None),
            TelegramChat.awaiting_key_until > now,
        )
        .values(awaiting_key_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not taken:  # an expired wait is cleared too
        session.execute(
            update(TelegramChat)
            .where(TelegramChat.chat_id == chat_id, TelegramChat.awaiting_key_until.is_not(None))
            .values(awaiting_key_until=None)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    return bool(taken)


def move_chat(session: Session, chat_id: int, new_chat_id: int) -> None:
    """A group upgraded to a supergroup gets a new id (Telegram's `migrate_to_chat_id`): the link
    follows it, settings and all."""
    session.execute(
        update(TelegramChat)
        .where(TelegramChat.chat_id == chat_id)
        .values(chat_id=new_chat_id, kind="supergroup", updated_at=utcnow())
    )
    session.commit()


def _hour(value: Any, name: str, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        raise ValueError(f"{name} is an hour from 0 to 23")
    return value


def _mode(value: Any) -> str:
    if value not in TELEGRAM_REPORT_MODES:
        raise ValueError(f"report_mode is one of {', '.join(TELEGRAM_REPORT_MODES)}")
    return str(value)


def _language(value: Any) -> str:
    if value not in LOCALES:
        raise ValueError(f"language is one of {', '.join(LOCALES)}")
    return str(value)


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return str(value)


def _threshold(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
        raise ValueError("low_cover_days is a whole number of days from 1 to 365")
    return value


_SETTINGS = {
    "report_mode": _mode,
    "daily_hour": lambda v: _hour(v, "daily_hour"),
    "quiet_start": lambda v: _hour(v, "quiet_start", nullable=True),
    "quiet_end": lambda v: _hour(v, "quiet_end", nullable=True),
    "timezone": _timezone,
    "language": _language,
    "low_cover_days": _threshold,
}


def update_chat_settings(session: Session, chat_id: int, **settings: Any) -> TelegramChat:
    """Change a linked chat's settings (the bot's /settings); all checked before anything is written."""
    unknown = set(settings) - set(_SETTINGS)
    if unknown:
        raise ValueError(f"unknown chat settings: {', '.join(sorted(unknown))}")
    clean = {name: _SETTINGS[name](value) for name, value in settings.items()}
    chat = session.scalar(select(TelegramChat).where(TelegramChat.chat_id == chat_id))
    if chat is None:
        raise ChatNotLinked(str(chat_id))
    quiet = (clean.get("quiet_start", chat.quiet_start), clean.get("quiet_end", chat.quiet_end))
    if (quiet[0] is None) != (quiet[1] is None):
        raise ValueError("quiet hours need both a start and an end (or neither)")
    for name, value in clean.items():
        setattr(chat, name, value)
    session.commit()
    return chat


def in_quiet_hours(chat: TelegramChat, at: datetime | None = None) -> bool:
    """Whether `at` (default now) falls in the chat's quiet hours, in the chat's time zone.
    A window may wrap midnight (22 → 8)."""
    if chat.quiet_start is None or chat.quiet_end is None or chat.quiet_start == chat.quiet_end:
        return False
    hour = (at or utcnow()).astimezone(ZoneInfo(chat.timezone)).hour
    start, end = chat.quiet_start, chat.quiet_end
    return start <= hour < end if start < end else hour >= start or hour < end

"""Tenants and their marketplace credentials: the only code (with sync_runs.py) that queries them.

Every function takes the tenant id and scopes its query by it (DESIGN §7), validates before it
writes, and commits, so a caller never sees half a change. Secrets enter and leave only through a
`CredentialVault`; what is returned for display carries the fingerprint, never the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warehouse.models import (
    CREDENTIAL_STATUSES,
    LOCALES,
    ORDERS_WINDOWS,
    TENANT_STATUSES,
    TIERS,
    MarketplaceCredential,
    Tenant,
    utcnow,
)
from warehouse.vault import CredentialVault, fingerprint, require_fields

# DNS-label-like: it becomes a Dagster partition key and the warehouse schema `t_<id>`.
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,39}$")
SPREADSHEET_URL = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
SPREADSHEET_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# A numeric chat id (groups are negative) or a public @channel name.
TELEGRAM_CHAT = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$")
MAX_LOW_STOCK_DAYS = 365


class TenantIdTaken(ValueError):
    """Another tenant has this id (perhaps made a moment ago by a concurrent sign-up)."""


class TenantNotFound(LookupError):
    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"no tenant {tenant_id!r}")
        self.tenant_id = tenant_id


@dataclass(frozen=True)
class TenantInfo:
    """What a sync needs to know about a tenant, detached from any session."""

    id: str
    name: str
    tier: str
    locale: str
    timezone: str
    orders_window_days: int
    low_stock_days: int
    spreadsheet_id: str | None
    telegram_chat_id: str | None
    marketplaces: tuple[str, ...]


@dataclass(frozen=True)
class CredentialStatus:
    """A stored key as it may be shown: fingerprint and check state, no secret."""

    marketplace: str
    fingerprint: str
    status: str
    last_checked_at: datetime | None
    check_message: str | None
    expires_at: datetime | None
    updated_at: datetime


# --- tenants -----------------------------------------------------------------------------------


def create_tenant(session: Session, id: str, name: str, tier: str = "starter", **settings: Any) -> Tenant:
    if not SLUG.match(id or ""):
        raise ValueError(
            f"tenant id {id!r} is not a slug: 1-40 lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
    taken = f"tenant {id!r} already exists"
    if session.get(Tenant, id) is not None:
        raise TenantIdTaken(taken)
    tenant = Tenant(id=id, tier=_tier(tier), **_settings({"name": name, **settings}))
    session.add(tenant)
    _commit(session, taken, conflict_type=TenantIdTaken)
    return tenant


def get_tenant(session: Session, id: str) -> Tenant | None:
    return session.get(Tenant, id)


def list_tenants(session: Session, include_deleted: bool = False) -> list[Tenant]:
    query = select(Tenant).order_by(Tenant.id)
    if not include_deleted:
        query = query.where(Tenant.status != "deleted")
    return list(session.scalars(query))


def set_tier(session: Session, id: str, tier: str) -> Tenant:
    tenant = _require(session, id)
    tenant.tier = _tier(tier)
    _commit(session)
    return tenant


def set_status(session: Session, id: str, status: str) -> Tenant:
    if status not in TENANT_STATUSES:
        raise ValueError(f"unknown status {status!r}; one of {', '.join(TENANT_STATUSES)}")
    tenant = _require(session, id, allow_deleted=True)
    tenant.status = status
    if status == "deleted":
        # A deleted seller's keys are not kept: nothing may sync for them again.
        session.execute(delete(MarketplaceCredential).where(MarketplaceCredential.tenant_id == id))
    _commit(session)
    return tenant


def update_settings(session: Session, id: str, **settings: Any) -> Tenant:
    tenant = _require(session, id)
    for field, value in _settings(settings).items():
        setattr(tenant, field, value)
    _commit(session)
    return tenant


def active_tenants(session: Session) -> list[TenantInfo]:
    connected: dict[str, list[str]] = {}
    rows = session.execute(
        select(MarketplaceCredential.tenant_id, MarketplaceCredential.marketplace).order_by(
            MarketplaceCredential.marketplace
        )
    )
    for tenant_id, marketplace in rows:
        connected.setdefault(tenant_id, []).append(marketplace)
    tenants = session.scalars(select(Tenant).where(Tenant.status == "active").order_by(Tenant.id))
    return [
        TenantInfo(
            id=t.id,
            name=t.name,
            tier=t.tier,
            locale=t.locale,
            timezone=t.timezone,
            orders_window_days=t.orders_window_days,
            low_stock_days=t.low_stock_days,
            spreadsheet_id=t.spreadsheet_id,
            telegram_chat_id=t.telegram_chat_id,
            # Every stored key counts, even one last seen refused: the sync then fails loudly and
            # tells the seller, rather than silently dropping a marketplace from the sheet.
            marketplaces=tuple(connected.get(t.id, ())),
        )
        for t in tenants
    ]


# --- credentials -------------------------------------------------------------------------------


def store_credentials(
    session: Session,
    vault: CredentialVault,
    tenant_id: str,
    marketplace: str,
    fields: Mapping[str, str],
    *,
    status: str = "unchecked",
    message: str | None = None,
    expires_at: datetime | None = None,
) -> CredentialStatus:
    """Encrypt and keep the tenant's key for `marketplace`, replacing the previous one."""
    _require(session, tenant_id)
    cleaned = require_fields(marketplace, fields)
    _credential_status(status)
    row = _credential(session, tenant_id, marketplace)
    if row is None:
        row = MarketplaceCredential(tenant_id=tenant_id, marketplace=marketplace)
        session.add(row)
    row.secret = vault.encrypt(cleaned)
    row.fingerprint = fingerprint(marketplace, cleaned)
    row.status = status
    row.check_message = message
    row.last_checked_at = None if status == "unchecked" else utcnow()
    row.expires_at = expires_at
    _commit(session, f"{marketplace} credentials of {tenant_id!r} were stored at the same time; retry")
    return _status_of(row)


def mark_checked(
    session: Session, tenant_id: str, marketplace: str, *, status: str, message: str | None = None
) -> CredentialStatus:
    """Record the outcome of re-checking a stored key against its marketplace."""
    _credential_status(status)
    row = _require_credential(session, tenant_id, marketplace)
    row.status, row.check_message, row.last_checked_at = status, message, utcnow()
    _commit(session)
    return _status_of(row)


def load_credentials(session: Session, vault: CredentialVault, tenant_id: str) -> dict[str, dict[str, str]]:
    """Decrypted key fields per marketplace, for the sync only; never log or return them."""
    rows = session.scalars(select(MarketplaceCredential).where(MarketplaceCredential.tenant_id == tenant_id))
    return {row.marketplace: vault.decrypt(row.secret) for row in rows}


def credential_status(session: Session, tenant_id: str) -> list[CredentialStatus]:
    rows = session.scalars(
        select(MarketplaceCredential)
        .where(MarketplaceCredential.tenant_id == tenant_id)
        .order_by(MarketplaceCredential.marketplace)
    )
    return [_status_of(row) for row in rows]


def delete_credentials(session: Session, tenant_id: str, marketplace: str) -> None:
    session.delete(_require_credential(session, tenant_id, marketplace))
    _commit(session)


def rotate_keys(session: Session, vault: CredentialVault) -> int:
    """Re-encrypt every stored secret, of every tenant, under the vault's first key; all or none."""
    # FOR UPDATE: a key stored while we rotate must not be overwritten by its older ciphertext.
    rows = session.scalars(select(MarketplaceCredential).with_for_update()).all()
    try:
        for row in rows:
            row.secret = vault.rotate(row.secret)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return len(rows)


# --- helpers -----------------------------------------------------------------------------------


def _require(session: Session, id: str, *, allow_deleted: bool = False) -> Tenant:
    tenant = session.get(Tenant, id)
    if tenant is None or (tenant.status == "deleted" and not allow_deleted):
        raise TenantNotFound(id)
    return tenant


def _credential(session: Session, tenant_id: str, marketplace: str) -> MarketplaceCredential | None:
    return session.scalar(
        select(MarketplaceCredential).where(
            MarketplaceCredential.tenant_id == tenant_id, MarketplaceCredential.marketplace == marketplace
        )
    )


def _require_credential(session: Session, tenant_id: str, marketplace: str) -> MarketplaceCredential:
    _require(session, tenant_id)
    row = _credential(session, tenant_id, marketplace)
    if row is None:
        raise LookupError(f"tenant {tenant_id!r} has no {marketplace} credentials")
    return row


def _status_of(row: MarketplaceCredential) -> CredentialStatus:
    return CredentialStatus(
        marketplace=row.marketplace,
        fingerprint=row.fingerprint,
        status=row.status,
        last_checked_at=row.last_checked_at,
        check_message=row.check_message,
        expires_at=row.expires_at,
        updated_at=row.updated_at,
    )


def _commit(
    session: Session,
    conflict: str = "the change conflicts with another; retry",
    conflict_type: type[ValueError] = ValueError,
) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise conflict_type(conflict) from None


def _tier(tier: str) -> str:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; one of {', '.join(TIERS)}")
    return tier


def _credential_status(status: str) -> None:
    if status not in CREDENTIAL_STATUSES:
        raise ValueError(f"unknown credential status {status!r}; one of {', '.join(CREDENTIAL_STATUSES)}")


def _settings(given: Mapping[str, Any]) -> dict[str, Any]:
    """Validated tenant settings; a wrong name or value is a ValueError naming it."""
    unknown = sorted(set(given) - set(_CHECKS))
    if unknown:
        raise ValueError(f"unknown tenant setting(s): {', '.join(unknown)}; known: {', '.join(_CHECKS)}")
    return {name: _CHECKS[name](value) for name, value in given.items()}


def _name(value: Any) -> str:
    name = str(value or "").strip()
    if not 1 <= len(name) <= 200:
        raise ValueError("name must be 1-200 characters")
    return name


def _locale(value: Any) -> str:
    if value not in LOCALES:
        raise ValueError(f"unknown locale {value!r}; one of {', '.join(LOCALES)}")
    return str(value)


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Europe/Moscow") from None
    return str(value)


def _orders_window(value: Any) -> int:
    days = _int(value, "orders_window_days")
    if days not in ORDERS_WINDOWS:
        raise ValueError(f"orders_window_days must be one of {', '.join(map(str, ORDERS_WINDOWS))}")
    return days


def _low_stock(value: Any) -> int:
    days = _int(value, "low_stock_days")
    if not 1 <= days <= MAX_LOW_STOCK_DAYS:
        raise ValueError(f"low_stock_days must be 1-{MAX_LOW_STOCK_DAYS}")
    return days


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number") from None


def _spreadsheet(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    # Sellers paste the whole address bar; the id is the part after /d/.
    match = SPREADSHEET_URL.search(text)
    spreadsheet_id = match.group(1) if match else text
    if not SPREADSHEET_ID.match(spreadsheet_id):
        raise ValueError("spreadsheet_id must be a Google Sheets id or its URL")
    return spreadsheet_id


def _telegram_chat(value: Any) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    chat = str(value).strip()
    if not TELEGRAM_CHAT.match(chat):
        raise ValueError("telegram_chat_id must be a numeric chat id or an @channel name")
    return chat


_CHECKS = {
    "name": _name,
    "locale": _locale,
    "timezone": _timezone,
    "orders_window_days": _orders_window,
    "low_stock_days": _low_stock,
    "spreadsheet_id": _spreadsheet,
    "telegram_chat_id": _telegram_chat,
}

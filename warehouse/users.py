"""Users of a tenant and sign-up: the only code that queries users and subscriptions.

Password hashes come in already made (api/security.py); nothing here sees a password. Like
`tenants.py`, every function scopes by tenant id, validates before it writes and commits.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warehouse.models import ROLES, RefreshToken, Subscription, Tenant, User, utcnow
from warehouse.tenants import SLUG, TenantIdTaken, create_tenant

TRIAL_DAYS = 14
TRIAL_TIER = "starter"
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
# Russian letters in Latin (ъ and ь are dropped), for tenant ids made from Russian seller names.
_LATIN = "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya"
_CYRILLIC = {
    ch: latin.strip("_")
    for ch, latin in zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя", _LATIN.split(" "), strict=True)
}


class EmailTaken(ValueError):
    pass


class LastOwner(ValueError):
    """The change would leave the tenant without an owner."""


@dataclass(frozen=True)
class Registration:
    tenant: Tenant
    user: User
    subscription: Subscription


def normalize_email(email: str) -> str:
    return email.strip().lower()


def tenant_slug(name: str) -> str:
    """A tenant id from a seller's name, transliterated: `ООО Ромашка` → `ooo-romashka`."""
    text = "".join(_CYRILLIC.get(ch, ch) for ch in name.lower())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:32].strip("-")
    return slug or "seller"


def register(
    session: Session,
    *,
    email: str,
    password_hash: str,
    tenant_name: str | None = None,
    locale: str = "ru",
    telegram_id: int | None = None,
) -> Registration:
    """A new tenant on a 14-day trial of the starter tier, with `email` as its owner.

    Without a name the tenant is called by the email's local part (`ivan.petrov@…` → `ivan.petrov`,
    id `ivan-petrov`, or `ivan-petrov-<hex>` when taken), which the seller can rename later.
    """
    email = _email(email)
    telegram_id = _telegram_id(telegram_id)
    if get_user_by_email(session, email) is not None:
        raise EmailTaken(email)
    name = tenant_name if tenant_name is not None else email.split("@", 1)[0]
    tenant = _create_tenant_named(session, name, locale)
    try:
        user = User(
            tenant_id=tenant.id,
            email=email,
            password_hash=password_hash,
            role="owner",
            telegram_id=telegram_id,
        )
        subscription = Subscription(
            tenant_id=tenant.id,
            tier=TRIAL_TIER,
            status="trialing",
            trial_ends_at=utcnow() + timedelta(days=TRIAL_DAYS),
        )
        session.add_all([user, subscription])
        session.commit()
    except IntegrityError:
        # The same email signed up at the same moment: take the half-made tenant back.
        session.rollback()
        session.execute(delete(Tenant).where(Tenant.id == tenant.id))
        session.commit()
        raise EmailTaken(email) from None
    return Registration(tenant, user, subscription)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalize_email(email)))


def get_user(session: Session, tenant_id: str, user_id: int) -> User | None:
    # populate_existing: after a lock (_lock_users) the row is read as it is now, not as this
    # session's identity map remembers it.
    query = select(User).where(User.tenant_id == tenant_id, User.id == user_id)
    return session.scalar(query.execution_options(populate_existing=True))


def signed_in(
    session: Session, tenant_id: str, user_id: int, family_id: str
) -> tuple[User, Tenant, bool, Subscription | None] | None:
    """The user and tenant behind an access token, whether its sign-in was revoked, and the
    tenant's subscription (the plan's gate on every request): one query, as every authenticated
    request asks it.

    Active is a positive fact: the family has a refresh token of this very user that is neither
    revoked nor expired. "No revoked row found" is not enough: a removed user's rows are gone with
    them, and a forged family id has none.
    """
    active = (
        select(RefreshToken.jti)
        .where(
            RefreshToken.family_id == family_id,
            RefreshToken.user_id == user_id,
            RefreshToken.tenant_id == tenant_id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > utcnow(),
        )
        .exists()
    )
    found = session.execute(
        select(User, Tenant, active, Subscription)
        .join(Tenant, Tenant.id == User.tenant_id)
        .outerjoin(Subscription, Subscription.tenant_id == Tenant.id)
        .where(User.tenant_id == tenant_id, User.id == user_id)
    ).first()
    return (found[0], found[1], not found[2], found[3]) if found else None


def list_users(session: Session, tenant_id: str) -> list[User]:
    return list(session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.id)))


def add_user(session: Session, tenant_id: str, *, email: str, password_hash: str, role: str) -> User:
    email = _email(email)
    if get_user_by_email(session, email) is not None:
        raise EmailTaken(email)
    user = User(tenant_id=tenant_id, email=email, password_hash=password_hash, role=_role(role))
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise EmailTaken(email) from None
    return user


def set_role(session: Session, tenant_id: str, user_id: int, role: str) -> User:
    role = _role(role)
    _lock_users(session, tenant_id)
    user = _require(session, tenant_id, user_id)
    if user.role == "owner" and role != "owner":
        _keep_an_owner(session, tenant_id)
    user.role = role
    session.commit()
    return user


def remove_user(session: Session, tenant_id: str, user_id: int) -> None:
    _lock_users(session, tenant_id)
    user = _require(session, tenant_id, user_id)
    if user.role == "owner":
        _keep_an_owner(session, tenant_id)
    session.delete(user)
    session.commit()


def set_password_hash(session: Session, user: User, password_hash: str) -> None:
    """Store a re-made hash (an imported bcrypt hash upgraded to Argon2 at sign-in)."""
    user.password_hash = password_hash
    session.commit()


def subscription_of(session: Session, tenant_id: str) -> Subscription | None:
    return session.scalar(select(Subscription).where(Subscription.tenant_id == tenant_id))


def trial_left(subscription: Subscription | None, now: datetime | None = None) -> timedelta | None:
    if subscription is None or subscription.status != "trialing" or subscription.trial_ends_at is None:
        return None
    return max(subscription.trial_ends_at - (now or utcnow()), timedelta(0))


# --- helpers -----------------------------------------------------------------------------------


def _email(email: str) -> str:
    email = normalize_email(email)
    if len(email) > 320 or not EMAIL.match(email):
        raise ValueError("not an email address")
    return email


def _telegram_id(telegram_id: int | None) -> int | None:
    # Telegram user ids are positive and fit in 52 bits (Bot API, User.id).
    if telegram_id is not None and (isinstance(telegram_id, bool) or not 0 < telegram_id < 2**52):
        raise ValueError("a Telegram user id is a positive integer below 2^52")
    return telegram_id


def _role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


def _require(session: Session, tenant_id: str, user_id: int) -> User:
    user = get_user(session, tenant_id, user_id)
    if user is None:
        raise LookupError(f"tenant {tenant_id!r} has no user {user_id}")
    return user


def _lock_users(session: Session, tenant_id: str) -> None:
    """Serialise changes to the tenant's roles and users until the commit, so two owners demoting or
    removing each other at once cannot both pass the "another owner is left" check.

    PostgreSQL: row locks on the tenant's users (the second change waits, then counts again).
    SQLite has no row locks: writing first takes the database's write lock for the transaction,
    so the other change waits (busy timeout) and reads after this one committed.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Tenant).where(Tenant.id == tenant_id).values(updated_at=utcnow()))
    else:
        session.execute(select(User.id).where(User.tenant_id == tenant_id).with_for_update())


def _keep_an_owner(session: Session, tenant_id: str) -> None:
    owners = session.scalar(
        select(func.count()).select_from(User).where(User.tenant_id == tenant_id, User.role == "owner")
    )
    if (owners or 0) <= 1:
        raise LastOwner("a tenant keeps at least one owner")


def _create_tenant_named(session: Session, name: str, locale: str) -> Tenant:
    # Two sellers of the same name signing up at once may both find its slug free; the one that
    # commits second takes another (a suffixed slug) instead of failing a valid sign-up.
    for _ in range(5):
        try:
            return create_tenant(session, _free_slug(session, tenant_slug(name)), name, locale=locale)
        except TenantIdTaken:
            continue
    raise ValueError("could not find a free tenant id; retry")


def _free_slug(session: Session, base: str) -> str:
    if SLUG.match(base) and session.get(Tenant, base) is None:
        return base
    for _ in range(20):
        candidate = f"{base[:33].rstrip('-')}-{secrets.token_hex(3)}"
        if SLUG.match(candidate) and session.get(Tenant, candidate) is None:
            return candidate
    raise ValueError("could not find a free tenant id; retry")

"""Refresh-token families: every refresh token is single-use; reusing a spent one revokes its family.

A family starts at sign-in and is the chain of tokens each refresh hands out. If a token is
presented a second time, someone holds a copy (the thief or the victim, we cannot tell which), so
every token of the family stops working and the user signs in again.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from warehouse.models import RefreshToken, utcnow

# Spent and expired rows are kept this long after expiry: long enough to recognise a replay.
KEEP_AFTER_EXPIRY = timedelta(days=7)


class SpendResult(enum.Enum):
    OK = "ok"
    REUSED = "reused"  # spent before: the family is now revoked
    REVOKED = "revoked"  # signed out, or its family was revoked
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Spent:
    result: SpendResult
    user_id: int | None = None
    tenant_id: str | None = None
    family_id: str | None = None


def new_id() -> str:
    return secrets.token_urlsafe(24)


def issue(
    session: Session, *, user_id: int, tenant_id: str, ttl: timedelta, family_id: str | None = None
) -> RefreshToken:
    """Record a new refresh token (a new family when `family_id` is None, i.e. at sign-in)."""
    now = utcnow()
    if family_id is None:
        family_id = new_id()
        # Sign-in is rare enough to tidy this user's long-dead tokens here.
        session.execute(
            delete(RefreshToken).where(
                RefreshToken.user_id == user_id, RefreshToken.expires_at < now - KEEP_AFTER_EXPIRY
            )
        )
    row = RefreshToken(
        jti=new_id(),
        family_id=family_id,
        user_id=user_id,
        tenant_id=tenant_id,
        issued_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    session.commit()
    return row


def spend(session: Session, jti: str) -> Spent:
    """Use up the token `jti` for one refresh; atomic, so two concurrent refreshes cannot both win."""
    now = utcnow()
    spent = session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.jti == jti,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(RefreshToken.user_id, RefreshToken.tenant_id, RefreshToken.family_id)
    ).first()
    if spent is not None:
        session.commit()
        return Spent(SpendResult.OK, spent.user_id, spent.tenant_id, spent.family_id)
    session.rollback()
    row = session.get(RefreshToken, jti)
    if row is None:
        return Spent(SpendResult.UNKNOWN)
    found = Spent(SpendResult.OK, row.user_id, row.tenant_id, row.family_id)
    if row.revoked_at is not None:
        return Spent(SpendResult.REVOKED, *_ids(found))
    if row.used_at is not None:
        revoke_family(session, row.family_id)
        return Spent(SpendResult.REUSED, *_ids(found))
    return Spent(SpendResult.EXPIRED, *_ids(found))


def revoke_family(session: Session, family_id: str, *, user_id: int | None = None) -> int:
    """Revoke every live token of the family (sign-out, or a replay); returns how many."""
    query = update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(RefreshToken.user_id == user_id)
    count = session.execute(query.values(revoked_at=utcnow())).rowcount
    session.commit()
    return int(count or 0)


def _ids(spent: Spent) -> tuple[int | None, str | None, str | None]:
    return spent.user_id, spent.tenant_id, spent.family_id

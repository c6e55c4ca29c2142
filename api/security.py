"""Passwords and tokens.

Passwords: pwdlib with Argon2 for new hashes and bcrypt to verify imported ones (re-hashed to Argon2
at the next sign-in). Tokens: JWT HS256 via pyjwt. An access token (15 min) names the user, the
tenant and its sign-in family; a refresh token (30 days) is single-use and recorded by its `jti`
(warehouse/auth_tokens.py). Decoding pins the algorithm, issuer, audience and token type, so
`alg: none`, a token signed with another key, or a refresh token offered as an access token are
all refused.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

ALGORITHM = "HS256"
ISSUER = "stock-tracker"
AUDIENCE = "stock-tracker-api"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti", "typ", "tid", "fam"]
# What a well-formed claim looks like, checked before any of it reaches a query: user ids are the
# database's 32-bit integer keys, tenant ids slugs (warehouse/tenants.py), family and token ids
# `secrets.token_urlsafe` (warehouse/auth_tokens.py). A validly signed token holding anything else
# (a huge `sub`, a NUL) is refused as invalid, never a database error.
MAX_USER_ID = 2**31 - 1
_TENANT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,39}\Z")
_TOKEN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")

password_hash = PasswordHash((Argon2Hasher(), BcryptHasher()))


class TokenError(Exception):
    """The token cannot be used; `code` says why (`token_expired` or `invalid_token`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    tenant_id: str
    family_id: str
    jti: str
    expires_at: datetime


@cache
def _common_passwords() -> frozenset[str]:
    # The 30 000 most common passwords of the leaked-password corpora zxcvbn ships (Dropbox's
    # strength estimator): the first ones an attacker tries, on every account at once.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def is_common_password(password: str) -> bool:
    return password.lower() in _common_passwords()


def hash_password(password: str) -> str:
    return password_hash.hash(password)


@cache
def _dummy_hash() -> str:
    return password_hash.hash("a password no account has: only spends the time a real check takes")


def verify_password(password: str, hashed: str | None) -> tuple[bool, str | None]:
    """(valid, a new hash to store or None). Without a hash (no such user) a dummy one is checked,
    so an unknown email costs the same time as a wrong password."""
    try:
        if hashed is None:
            password_hash.verify(password, _dummy_hash())
            return False, None
        return password_hash.verify_and_update(password, hashed)
    except (ValueError, PwdlibError):
        # bcrypt refuses passwords over 72 bytes (such a password never matched an imported hash);
        # a stored hash of no known scheme matches nothing.
        return False, None


def warm_up() -> None:
    """Make the dummy hash now, so the first unknown-user sign-in is not slower than the rest."""
    _dummy_hash()
    _common_passwords()


def encode_token(
    secret: str,
    *,
    kind: str,
    user_id: int,
    tenant_id: str,
    family_id: str,
    ttl: timedelta,
    jti: str | None = None,
) -> tuple[str, TokenClaims]:
    now = datetime.now(UTC)
    claims = TokenClaims(user_id, tenant_id, family_id, jti or uuid.uuid4().hex, now + ttl)
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "tid": tenant_id,
        "fam": family_id,
        "jti": claims.jti,
        "typ": kind,
        "iat": now,
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_token(secret: str, token: str, *, kind: str) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": _REQUIRED},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token_expired") from None
    except jwt.PyJWTError:
        raise TokenError("invalid_token") from None
    if payload.get("typ") != kind:
        raise TokenError("invalid_token")
    try:
        claims = TokenClaims(
            user_id=_user_id(payload["sub"]),
            tenant_id=_matching(_TENANT_ID, payload["tid"]),
            family_id=_matching(_TOKEN_ID, payload["fam"]),
            jti=_matching(_TOKEN_ID, payload["jti"]),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
    except (TypeError, ValueError, OverflowError, OSError):
        raise TokenError("invalid_token") from None
    return claims


def _user_id(sub: object) -> int:
    # `sub` is a string of decimal digits (RFC 7519 §4.1.2 makes it a string): no sign, no spaces,
    # no `1_000`, at most 10 digits before int() sees it.
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or len(sub) > 10:
        raise ValueError("sub")
    user_id = int(sub)
    if not 1 <= user_id <= MAX_USER_ID:
        raise ValueError("sub")
    return user_id


def _matching(pattern: re.Pattern[str], value: object) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError("claim")
    return value

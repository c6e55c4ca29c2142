"""WB API tokens: JWTs whose `s` bitmask grants API categories (marketplace-api.md §1.2).

The sandbox, like WB's gateway, reads the payload without checking the signature (it cannot: WB
signs with its own ES256 key) and accepts only tokens listed in the scenario.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
import uuid
from dataclasses import dataclass

# Bit numbers of the `s` mask, as documented in WB's authorization guide.
CATEGORY_BITS: dict[str, int] = {
    "content": 1,
    "analytics": 2,
    "prices": 3,
    "marketplace": 4,
    "statistics": 5,
    "promotion": 6,
    "feedbacks": 7,
    "chat": 9,
    "supplies": 10,
    "returns": 11,
    "documents": 12,
    "finance": 13,
    "users": 16,
}
READ_ONLY_BIT = 30
STOCK_TRACKER_CATEGORIES = ("content", "analytics", "marketplace", "statistics")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(
    rng: random.Random,
    categories: tuple[str, ...] = STOCK_TRACKER_CATEGORIES,
    *,
    read_only: bool = True,
    token_type: int = 3,
    expires_at: int | None = None,
) -> str:
    """A WB-shaped personal token (acc=3, for=self) granting `categories`; seeded, so reproducible."""
    mask = sum(1 << CATEGORY_BITS[c] for c in categories) | ((1 << READ_ONLY_BIT) if read_only else 0)
    header = {"alg": "ES256", "kid": "20250904v1", "typ": "JWT"}
    payload: dict[str, object] = {
        "acc": token_type,
        "ent": 1,
        "exp": expires_at if expires_at is not None else int(time.time()) + 180 * 86400,
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "iid": rng.randint(10_000_000, 99_999_999),
        "oid": rng.randint(100_000, 9_999_999),
        "s": mask,
        "sid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "t": False,
        "uid": rng.randint(10_000_000, 99_999_999),
    }
    if token_type == 3:
        payload["for"] = "self"
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    # A stand-in signature of the right length (ES256 = 64 bytes); nobody can verify it anyway.
    signature = hashlib.sha512(signing_input.encode() + rng.randbytes(16)).digest()[:64]
    return f"{signing_input}.{_b64(signature)}"


@dataclass(frozen=True)
class TokenClaims:
    categories: frozenset[str]
    read_only: bool
    expires_at: int | None
    token_type: int | None
    test: bool


class TokenError(ValueError):
    """The token cannot be read; the message is what WB's gateway puts in `detail`."""


def read_token(token: str) -> TokenClaims:
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("token problem; token is malformed: token contains an invalid number of segments")
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        mask = int(payload["s"])
    except (ValueError, KeyError, TypeError):
        raise TokenError("token problem; token is malformed: could not base64 decode payload") from None
    categories = frozenset(name for name, bit in CATEGORY_BITS.items() if mask & (1 << bit))
    exp = payload.get("exp")
    return TokenClaims(
        categories=categories,
        read_only=bool(mask & (1 << READ_ONLY_BIT)),
        expires_at=int(exp) if exp is not None else None,
        token_type=payload.get("acc"),  # older tokens carry no `acc`
        test=bool(payload.get("t", False)),
    )

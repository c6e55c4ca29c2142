"""Reading Ozon request bodies: typed fields or `BadRequest` naming the field, and opaque cursors.

Ozon's int64 ids travel as JSON strings in the official spec (`string(int64)`) and as numbers in
many clients; the API takes both, so the sandbox does too.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import orjson

from sandbox.ozon.errors import BadRequest


def section(body: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key}: value is required")
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{key}: must be an object")
    return value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def id_list(body: dict[str, Any], key: str, *, max_items: int = 1000) -> list[int]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{key}: must be an array")
    if len(value) > max_items:
        raise BadRequest(f"{key}: must contain at most {max_items} items")
    ids = [_as_int(v) for v in value]
    if any(i is None for i in ids):
        raise BadRequest(f"{key}: values must be integers (int64 as number or string)")
    return ids  # type: ignore[return-value]


def str_list(body: dict[str, Any], key: str, *, max_items: int = 1000) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key}: must be an array of strings")
    if len(value) > max_items:
        raise BadRequest(f"{key}: must contain at most {max_items} items")
    return value


def integer(
    body: dict[str, Any], key: str, *, low: int, high: int | None = None, default: int | None = None
) -> int:
    """An integer in [low, high]; required when there is no default."""
    raw = body.get(key)
    if raw is None:
        if default is None:
            raise BadRequest(f"{key}: value is required")
        return default
    value = _as_int(raw)
    if value is None or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"{key}: must be an integer {bound}")
    return value


def choice(body: dict[str, Any], key: str, allowed: frozenset[str], default: str) -> str:
    value = body.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value.upper() not in allowed:
        raise BadRequest(f"{key}: unknown value {value!r}")
    return value.upper()


def instant(value: Any, key: str) -> datetime:
    """An RFC 3339 time (Ozon: UTC, `2019-08-24T14:15:22Z`); a bare date reads as its midnight UTC."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key}: value is required (date-time)")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{key}: invalid date-time {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- opaque cursors ------------------------------------------------------------------------------
# Ozon's `last_id` / `cursor` are base64 of a small JSON array (e.g. "WzEyMzQ1XQ==" = "[12345]").


def make_cursor(position: int) -> str:
    return base64.b64encode(orjson.dumps([position])).decode()


def read_cursor(body: dict[str, Any], key: str) -> int | None:
    """The position a cursor names, None for the first page ("" or absent)."""
    raw = body.get(key)
    if raw is None or raw == "":
        return None
    try:
        decoded = orjson.loads(base64.b64decode(str(raw), validate=True))
        position = decoded[0]
    except (binascii.Error, orjson.JSONDecodeError, TypeError, IndexError, KeyError, ValueError):
        raise BadRequest(f"{key}: invalid value") from None
    if not isinstance(position, int) or isinstance(position, bool):
        raise BadRequest(f"{key}: invalid value")
    return position

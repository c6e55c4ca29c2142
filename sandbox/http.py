"""Small response helpers shared by the sandbox services."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web


def json_response(
    data: Any,
    status: int = 200,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=content_type, headers=headers)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or None when it is missing or not JSON (callers answer 400)."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def request_id() -> str:
    return secrets.token_hex(16)


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

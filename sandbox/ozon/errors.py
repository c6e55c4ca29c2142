"""Ozon's error body: gRPC-style `rpcStatus` on every method (marketplace-api.md §3.3).

Handlers raise `BadRequest` / `NotFound`; the `endpoint` wrapper turns them into these bodies, so a
validation failure reads the same on every method, as Ozon's gateway words it.
"""

from __future__ import annotations

from aiohttp import web

from sandbox.http import json_response
from sandbox.ratelimit import header_seconds

# gRPC status codes Ozon puts in `code`.
INVALID_ARGUMENT = 3
NOT_FOUND = 5
RESOURCE_EXHAUSTED = 8
INTERNAL = 13
UNAVAILABLE = 14
UNAUTHENTICATED = 16


class BadRequest(Exception):
    """400 code 3: the message names the offending field."""


class NotFound(Exception):
    """404 code 5."""


def rpc_status(
    status: int, code: int, message: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    return json_response({"code": code, "message": message, "details": []}, status, headers=headers)


def missing_headers() -> web.Response:
    return rpc_status(401, UNAUTHENTICATED, "Client-Id and Api-Key headers are required")


def bad_client_id() -> web.Response:
    return rpc_status(400, INVALID_ARGUMENT, "Client-Id header value should be positive integer")


def invalid_api_key() -> web.Response:
    # Ozon answers an unknown key with 404, not 401 (observed live by several clients, §3.3).
    return rpc_status(404, NOT_FOUND, "Invalid Api-Key, please check the key and try again")


def invalid(message: str) -> web.Response:
    return rpc_status(400, INVALID_ARGUMENT, message)


def not_found(message: str = "Not found") -> web.Response:
    return rpc_status(404, NOT_FOUND, message)


def too_many_requests(retry_after: float, scale: float) -> web.Response:
    return rpc_status(
        429,
        RESOURCE_EXHAUSTED,
        "You have reached request rate limit per second",
        headers={"Retry-After": header_seconds(retry_after, scale)},
    )


class OzonErrors:
    """The sandbox's injected faults, worded as Ozon words them."""

    def rate_limited(self, retry_after: float, limit: int, reset_after: float, scale: float) -> web.Response:
        return too_many_requests(retry_after, scale)

    def unauthorized(self, path: str) -> web.Response:
        # A revoked key: Ozon's official text for it (chastye-oshibki.md); the HTTP status of that
        # answer is undocumented, 401 with UNAUTHENTICATED is what the fault kind promises.
        return rpc_status(
            401, UNAUTHENTICATED, "Api-key is deactivated, use another one or generate a new one"
        )

    def server_error(self, status: int) -> web.Response:
        if status == 500:
            return rpc_status(500, INTERNAL, "Internal error")
        return rpc_status(status, UNAVAILABLE, "Service Unavailable" if status == 503 else "Bad Gateway")

    def not_found(self, path: str) -> web.Response:
        return not_found()

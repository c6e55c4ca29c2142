"""Google's error shape, `{"error": {"code", "message", "status"}}`, for Sheets and Drive."""

from __future__ import annotations

from aiohttp import web

from sandbox.http import json_response
from sandbox.ratelimit import header_seconds

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}

UNAUTHENTICATED = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential."
)
PERMISSION_DENIED = "The caller does not have permission"
NOT_FOUND = "Requested entity was not found."


def google_error(code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}}
    return json_response(body, code, headers=headers)


def quota_exceeded(kind: str, per_minute: int) -> web.Response:
    # Google's quota 429 carries no Retry-After: clients are told to back off exponentially.
    metric = "Write requests" if kind == "write" else "Read requests"
    return google_error(
        429,
        f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' of "
        f"service 'sheets.googleapis.com' ({per_minute}/min).",
    )


class GoogleErrors:
    """Injected faults worded as Google's front end words them."""

    def rate_limited(self, retry_after: float, limit: int, reset_after: float, scale: float) -> web.Response:
        # An injected 429 says when to come back, so clients' Retry-After path gets exercised too.
        return google_error(
            429, "Resource has been exhausted (e.g. check quota).", retry_after_header(retry_after, scale)
        )

    def unauthorized(self, path: str) -> web.Response:
        return google_error(401, UNAUTHENTICATED)

    def server_error(self, status: int) -> web.Response:
        if status == 502:
            # Google's edge answers 502 with an HTML page, not JSON.
            return web.Response(
                status=502,
                text="<html><title>Error 502 (Server Error)!!1</title></html>",
                content_type="text/html",
            )
        message = "Internal error encountered." if status == 500 else "The service is currently unavailable."
        return google_error(status, message)

    def not_found(self, path: str) -> web.Response:
        return google_error(404, NOT_FOUND)


def retry_after_header(seconds: float, scale: float) -> dict[str, str]:
    return {"Retry-After": header_seconds(seconds, scale)}

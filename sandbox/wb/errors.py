"""WB error bodies, one family per endpoint group (marketplace-api.md §1.4)."""

from __future__ import annotations

from aiohttp import web

from sandbox.http import json_response, request_id, utc_now_iso
from sandbox.ratelimit import header_seconds

PROBLEM = "application/problem+json"


def gateway(
    status: int,
    title: str,
    detail: str,
    status_text: str,
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The API gateway's shape (401, 429, some 403), origin `s2s-api-auth-catalog`."""
    body = {
        "title": title,
        "detail": detail,
        "code": f"07e4668e-{request_id()[:12]}-[UK-4dx7JUdskGZ]",
        "requestId": request_id(),
        "origin": "s2s-api-auth-catalog",
        "status": status,
        "statusText": status_text,
        "timestamp": utc_now_iso(),
    }
    return json_response(body, status, content_type=content_type, headers=headers)


def unauthorized(detail: str) -> web.Response:
    return gateway(401, "unauthorized", detail, "Unauthorized")


def too_many_requests(retry_after: float, limit: int, reset_after: float, scale: float) -> web.Response:
    # Since 2026-01-27 WB answers 429 as application/problem+json; it documents no Retry-After.
    headers = {
        "X-Ratelimit-Retry": header_seconds(retry_after, scale),
        "X-Ratelimit-Limit": str(limit),
        "X-Ratelimit-Reset": header_seconds(reset_after, scale),
    }
    return gateway(
        429,
        "too many requests",
        f"limited by {request_id()[:8]}-a7fb-4bb4-abb0-32fd4e18d489",
        "Too Many Requests",
        content_type=PROBLEM,
        headers=headers,
    )


def analytics(
    status: int,
    title: str,
    detail: str,
    *,
    origin: str = "analytics-open-api",
    content_type: str = "application/json",
) -> web.Response:
    return json_response(
        {"title": title, "detail": detail, "requestId": request_id(), "origin": origin},
        status,
        content_type=content_type,
    )


def statistics(status: int, errors: list[str] | str) -> web.Response:
    return json_response({"errors": errors}, status)


def marketplace(status: int, code: str, message: str = "") -> web.Response:
    return json_response({"code": code, "message": message}, status)


def content(status: int, text: str) -> web.Response:
    return json_response({"data": None, "error": True, "errorText": text, "additionalErrors": None}, status)


class WbErrors:
    """The sandbox's injected faults, worded as the WB gateway words them."""

    def __init__(self, family: str) -> None:
        self.family = family

    def rate_limited(self, retry_after: float, limit: int, reset_after: float, scale: float) -> web.Response:
        return too_many_requests(retry_after, limit, reset_after, scale)

    def unauthorized(self, path: str) -> web.Response:
        return unauthorized("token problem; token is expired or revoked")

    def server_error(self, status: int) -> web.Response:
        texts = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return gateway(status, texts[status].lower(), "upstream service error", texts[status])

    def not_found(self, path: str) -> web.Response:
        if self.family == "wb_marketplace":
            return marketplace(404, "NotFound", "")
        if self.family == "wb_content":
            return content(404, "Not found")
        return analytics(404, "Not Found", "not found", origin="api-statistics", content_type=PROBLEM)

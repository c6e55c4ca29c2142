"""Around every request: a request id, security headers, metrics, one access log line, and the
last word on unexpected exceptions (a 500 in the one error shape, never a traceback).

Plain ASGI rather than BaseHTTPMiddleware: nothing is buffered and no extra task is spawned per
request, which matters on the hot read paths.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import database_unavailable, database_unavailable_response, error_response
from api.logs import request_id_var
from api.metrics import ApiMetrics
from resources.sentry import tag_tenant

log = logging.getLogger("stock_tracker.api")
access_log = logging.getLogger("stock_tracker.api.access")

REQUEST_ID_HEADER = "x-request-id"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_GIVEN_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
DOCS_PATHS = ("/docs", "/redoc")

_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
]
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"


# Swagger UI and ReDoc run an inline bootstrap script and load their bundles (and ReDoc a web
# worker) from this server (api/docs.py); nothing else may load, and no one may frame the page.
_DOCS_CSP = (
    b"default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    b"frame-ancestors 'none'"
)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        path: str = scope.get("path", "")
        csp = _DOCS_CSP if path.startswith(DOCS_PATHS) else _API_CSP
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _COMMON_HEADERS if n not in present]
                headers.append((b"content-security-policy", csp))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                if path.startswith("/api/") and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if b"location" in present:
                    headers = [(n, _same_origin(v) if n.lower() == b"location" else v) for n, v in headers]
                message["headers"] = headers
            await send(message)

        try:
            if _has_control_characters(scope):
                refused = error_response(Request(scope), 422, "control_characters")
                await refused(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # Sentry takes the event from this log line (its logging integration): tag it first.
            tag_tenant(state.get("tenant_id"), state.get("tier"))
            log.exception("unhandled error", extra={"fields": {"path": path, "method": scope.get("method")}})
            if response_started:
                raise
            if database_unavailable(exc):
                response = database_unavailable_response(Request(scope))
            else:
                response = error_response(Request(scope), 500, "internal_error")
            await response(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "")
            self.metrics.observe(route, method, status, elapsed)
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": method,
                        "route": route,
                        "path": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "tenant_id": state.get("tenant_id"),
                        "user_id": state.get("user_id"),
                        "client": (scope.get("client") or ("", 0))[0],
                    }
                },
            )
            request_id_var.reset(token)


def _has_control_characters(scope: Scope) -> bool:
    """NUL or another control character in the path or query, once percent-decoded: refused before
    any route sees it (PostgreSQL cannot hold NUL; the others only corrupt logs and lookups)."""
    query = scope.get("query_string", b"").decode("latin-1")
    for text in (scope.get("path", ""), unquote_plus(query, errors="replace")):
        if _CONTROL.search(text):
            return True
    return False


def _same_origin(location: bytes) -> bytes:
    """A redirect's target as a path on this server: Starlette builds it from the request's `Host`
    header, which the client chose, so an absolute one could send a victim elsewhere."""
    parts = urlsplit(location.decode("latin-1"))
    path = "/" + parts.path.lstrip("/\\")  # never `//host`, which is absolute again
    return urlunsplit(("", "", path, parts.query, "")).encode("latin-1")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            given = value.decode("latin-1")
            if _GIVEN_ID.match(given):
                return given
            break
    return uuid.uuid4().hex


def _route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    # Unmatched paths share one label: scanners must not mint a time series per URL they try.
    return getattr(route, "path", None) or "unmatched"

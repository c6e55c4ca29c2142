"""One error shape for every failure: `{"error": {"code", "message", "request_id", "details"?}}`.

`code` is machine-readable and stable; `message` is for people, in the request's language
(api/i18n.py). Validation details name the field and the rule, never the value sent (it may be a
password or a key). Unexpected exceptions become `internal_error` with no details at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import i18n

log = logging.getLogger("stock_tracker.api")

_CODES_BY_STATUS = {
    400: "invalid_body",  # FastAPI's answer to a body it cannot parse
    401: "not_authenticated",
    404: "not_found",
    405: "method_not_allowed",
    422: "validation_error",
    500: "internal_error",
}


class ApiError(StarletteHTTPException):
    """An expected failure: HTTP status, a code from `i18n.MESSAGES` and the message's parameters."""

    def __init__(
        self,
        status_code: int,
        code: str,
        *,
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(status_code=status_code, detail=code, headers=dict(headers) if headers else None)
        self.code = code
        self.params = params


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str
    details: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def request_language(request: Request) -> str:
    state = request.scope.get("state") or {}
    return i18n.language(request.headers.get("accept-language"), state.get("locale"))


def error_response(
    request: Request,
    status_code: int,
    code: str,
    params: Mapping[str, Any] | None = None,
    *,
    details: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "code": code,
        "message": i18n.message(code, request_language(request), params),
        "request_id": (request.scope.get("state") or {}).get("request_id", ""),
    }
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status_code, headers=dict(headers or {}))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, ApiError):
        code, params = exc.code, exc.params
    else:
        code = _CODES_BY_STATUS.get(exc.status_code, "http_error")
        params = {"status": exc.status_code}
    return error_response(request, exc.status_code, code, params, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    fields = ", ".join(dict.fromkeys(d["field"] for d in details)) or "-"
    return error_response(request, 422, "validation_error", {"fields": fields}, details=details)


# While the app database is unreachable (restarting, failing over) a request cannot be answered,
# but it is not the client's fault nor a bug: 503 with Retry-After, and the pool reconnects by
# itself once the database is back (warehouse/app_db.py `postgres_engine`).
DATABASE_RETRY_SECONDS = 5


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means "the database cannot be reached now" (connection refused or lost, the
    server shutting down), as opposed to a bug in a query."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(original, psycopg.OperationalError):
        return True
    return isinstance(exc, sqlalchemy.exc.OperationalError) and "locked" in str(original).lower()


def database_unavailable_response(request: Request) -> JSONResponse:
    seconds = DATABASE_RETRY_SECONDS
    return error_response(
        request, 503, "database_unavailable", {"seconds": seconds}, headers={"Retry-After": str(seconds)}
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):
        log.warning("app database unavailable: %s", type(exc).__name__)
        return database_unavailable_response(request)
    raise exc


BUSY_RETRY_SECONDS = 1


def server_busy_response(request: Request) -> JSONResponse:
    """More requests than this worker serves at once: 503 and come back in a second."""
    seconds = BUSY_RETRY_SECONDS
    return error_response(
        request, 503, "server_busy", {"seconds": seconds}, headers={"Retry-After": str(seconds)}
    )


async def _pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
    # Every pooled connection stayed busy for the pool's whole timeout: load, not a bug.
    log.warning("app database pool exhausted")
    return server_busy_response(request)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _pool_exhausted)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(psycopg.OperationalError, _database_error)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer (all share the error shape)."""
    return {status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]} for status in statuses}


_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "Not signed in, or the token is invalid or expired",
    403: "The user's role or the account's state does not allow this",
    404: "Not found (or another tenant's)",
    409: "Conflicts with the current state",
    422: "Invalid input",
    429: "Rate limited; see Retry-After",
    500: "Internal error",
    502: "An outside service answered wrongly",
    503: "A dependency is unavailable; retry later",
}

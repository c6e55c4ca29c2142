"""The sign-in body, as JSON or as an OAuth2 password form.

FastAPI binds a route's body to one content type, but sign-in has two callers: scripts sending
JSON (`{"email" | "username", "password"}`, as the predecessor documented) and OAuth2 password
clients such as Swagger UI's Authorize button, which send `application/x-www-form-urlencoded`
(RFC 6749 §4.3.2). Both are read here into one `LoginRequest`; bad input fails exactly as a bound
body would (422 `validation_error` naming the field, never echoing the value).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.models import LoginRequest

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_login(request: Request) -> LoginRequest:
    data = await _form(request) if _content_type(request) in FORM_TYPES else await _json(request)
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


LoginBody = Annotated[LoginRequest, Depends(read_login)]


def openapi_request_body() -> dict[str, Any]:
    """The route's `requestBody` for the OpenAPI document: the same fields in both content types."""
    schema = LoginRequest.model_json_schema()
    return {
        "required": True,
        "content": {
            "application/json": {"schema": schema},
            "application/x-www-form-urlencoded": {"schema": schema},
        },
    }


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    # An uploaded file is no credential: only text fields count.
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]
        ) from None

"""The Bot API's error shape: `{"ok": false, "error_code", "description", "parameters"?}` (always
HTTP status = error_code), with the descriptions Telegram actually sends."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.http import json_response


class BotApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def response(self) -> web.Response:
        return error_response(self.code, self.description, self.parameters)


def error_response(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json_response(body, code)


def bad_request(detail: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {detail}")


def retry_after_value(seconds: float, scale: float) -> float | int:
    """Telegram sends whole seconds; a time-scaled sandbox sends the scaled fraction."""
    if scale == 1.0:
        return max(1, int(-(-seconds // 1)))
    return round(max(seconds, 0.001), 3)


def too_many_requests(seconds: float, scale: float) -> BotApiError:
    value = retry_after_value(seconds, scale)
    return BotApiError(429, f"Too Many Requests: retry after {value}", {"retry_after": value})


class TelegramErrors:
    """The error family the gateway uses for injected faults."""

    def rate_limited(self, retry_after: float, limit: int, reset_after: float, scale: float) -> web.Response:
        return too_many_requests(retry_after, scale).response()

    def unauthorized(self, path: str) -> web.Response:
        return error_response(401, "Unauthorized")

    def server_error(self, status: int) -> web.Response:
        # Telegram's front answers 5xx as nginx HTML, but its Bot API layer sends this shape.
        return error_response(status, "Internal Server Error" if status == 500 else "Bad Gateway")

    def not_found(self, path: str) -> web.Response:
        return error_response(404, "Not Found")

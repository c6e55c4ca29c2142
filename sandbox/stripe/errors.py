"""Stripe's error body: `{"error": {"type", "message", "code"?, "param"?}}` with its status codes."""

from __future__ import annotations

from aiohttp import web

from sandbox.http import json_response, request_id


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param

    def response(self) -> web.Response:
        body: dict[str, object] = {"type": self.type, "message": self.message}
        if self.code:
            body["code"] = self.code
        if self.param:
            body["param"] = self.param
        return stripe_error_response(self.status, body)


def stripe_error_response(
    status: int, error: dict[str, object], headers: dict[str, str] | None = None
) -> web.Response:
    return json_response(
        {"error": error}, status, headers={"Request-Id": f"req_{request_id()[:14]}", **(headers or {})}
    )


def missing(kind: str, id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{id}'", code="resource_missing", param=param)


class StripeErrors:
    """Injected faults worded as Stripe words them."""

    def rate_limited(self, retry_after: float, limit: int, reset_after: float, scale: float) -> web.Response:
        return stripe_error_response(
            429,
            {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
            },
        )

    def unauthorized(self, path: str) -> web.Response:
        return stripe_error_response(
            401, {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****"}
        )

    def server_error(self, status: int) -> web.Response:
        return stripe_error_response(status, {"type": "api_error", "message": "An unknown error occurred"})

    def not_found(self, path: str) -> web.Response:
        return stripe_error_response(
            404, {"type": "invalid_request_error", "message": f"Unrecognized request URL (GET: {path})."}
        )

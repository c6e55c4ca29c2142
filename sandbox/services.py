"""The catalogue of sandbox services: one path prefix per real host, one error family each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web


class ErrorFamily(Protocol):
    """How a service words the errors the sandbox injects (each real host has its own shape)."""

    def rate_limited(
        self, retry_after: float, limit: int, reset_after: float, scale: float
    ) -> web.Response: ...

    def unauthorized(self, path: str) -> web.Response: ...

    def server_error(self, status: int) -> web.Response: ...

    def not_found(self, path: str) -> web.Response: ...


@dataclass(frozen=True)
class Service:
    key: str  # the key in `sandbox serve`'s JSON of base URLs
    prefix: str  # path prefix standing in for the real host
    real_host: str


SERVICES: tuple[Service, ...] = (
    Service("wb_content", "/wb-content", "https://content-api.wildberries.ru"),
    Service("wb_analytics", "/wb-analytics", "https://seller-analytics-api.wildberries.ru"),
    Service("wb_statistics", "/wb-statistics", "https://statistics-api.wildberries.ru"),
    Service("wb_marketplace", "/wb-marketplace", "https://marketplace-api.wildberries.ru"),
    Service("wb_common", "/wb-common", "https://common-api.wildberries.ru"),
    Service("ozon", "/ozon", "https://api-seller.ozon.ru"),
    Service("sheets", "/sheets", "https://sheets.googleapis.com"),
    Service("drive", "/drive", "https://www.googleapis.com"),
    Service("oauth2", "/oauth2", "https://oauth2.googleapis.com"),
    Service("stripe", "/stripe", "https://api.stripe.com"),
    Service("telegram", "/telegram", "https://api.telegram.org"),
)


def split_path(path: str) -> tuple[Service | None, str]:
    for service in SERVICES:
        if path == service.prefix or path.startswith(service.prefix + "/"):
            return service, path[len(service.prefix) :] or "/"
    return None, path


def public_path(service: Service, sub_path: str) -> str:
    """The path the request log keeps and fault rules match: the Bot API's `/bot<token>/<method>`
    loses its token (a secret) and reads `/<method>`."""
    if service.key == "telegram" and sub_path.startswith("/bot"):
        _, _, method = sub_path[1:].partition("/")
        return "/" + method
    return sub_path


def base_urls(host: str, port: int) -> dict[str, str]:
    return {s.key: f"http://{host}:{port}{s.prefix}" for s in SERVICES}

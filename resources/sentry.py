"""Error reports to Sentry from every process: the API, Dagster runs and sensors, and the bot.

`init_sentry(component)` is a no-op without `STOCK_TRACKER_SENTRY_DSN`. Each event carries the
environment, the release (`stock-tracker@<package version>`) and, where known, the tenant id and
tier as tags (`tag_tenant`). Secrets never leave the process (DESIGN §7): `scrub_event` runs as
`before_send` and removes keys, tokens, passwords, the Authorization / Api-Key / Client-Id headers,
Fernet keys, passwords inside URLs, and the request bodies of credential and auth routes; frame
locals and request bodies are not collected in the first place.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sentry_sdk

from settings import Settings, get_settings

FILTERED = "[Filtered]"
# Keys whose values are secret wherever they appear (headers, extra, contexts, breadcrumbs).
_SECRET_KEY = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|authorization|cookie|client[_-]?id|"
    r"encryption[_-]?keys?|fernet|dsn|credentials?)"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# A Fernet key: 32 bytes in URL-safe base64, 44 characters ending in "=".
_FERNET = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s]+@")
_SECRET_PAIR = re.compile(
    r"(?i)\b(password|secret|token|api[_-]?key|client[_-]?id|authorization)(\"?'?\s*[:=]\s*\"?'?)([^\s\"',}&]+)"
)
# Routes whose request bodies hold passwords or marketplace keys.
_CREDENTIAL_ROUTES = re.compile(r"/api/v1/(auth|credentials)(/|$)")


def release() -> str:
    try:
        return f"stock-tracker@{version('stock-tracker')}"
    except PackageNotFoundError:
        return "stock-tracker@unknown"


def init_sentry(component: str, settings: Settings | None = None, **options: Any) -> bool:
    """Start reporting from this process; False (and nothing sent) without a DSN."""
    settings = settings or get_settings()
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment or settings.environment,
        release=release(),
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        **options,
    )
    sentry_sdk.set_tag("component", component)
    return True


def tag_tenant(tenant_id: str | None, tier: str | None = None) -> None:
    """Tag what is reported from here on in this scope (a request, a run) with the tenant."""
    if tenant_id:
        sentry_sdk.set_tag("tenant_id", tenant_id)
    if tier:
        sentry_sdk.set_tag("tier", tier)


def redact(text: str) -> str:
    text = _JWT.sub(FILTERED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {FILTERED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{FILTERED}@", text)
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{FILTERED}", text)
    return _FERNET.sub(FILTERED, text)


def _scrub(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEY.search(key):
        return FILTERED
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        # Headers may come as [name, value] pairs.
        if len(value) == 2 and isinstance(value[0], str) and _SECRET_KEY.search(value[0]):
            return [value[0], FILTERED]
        return [_scrub(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_scrub(v) for v in value)
    if isinstance(value, str):
        return redact(value)
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """`before_send`: the event with every secret removed (never None: the error still counts)."""
    request = event.get("request")
    if isinstance(request, dict):
        if _CREDENTIAL_ROUTES.search(str(request.get("url", ""))):
            request.pop("data", None)
        request.pop("cookies", None)
    # Tags keep their keys (tenant_id, tier); everything else is walked key by key.
    tags = event.pop("tags", None)
    cleaned: dict[str, Any] = _scrub(event)
    if tags is not None:
        cleaned["tags"] = {k: redact(v) if isinstance(v, str) else v for k, v in dict(tags).items()}
    return cleaned

"""Is this marketplace key good? Asked before a key is stored and when an operator re-checks one.

A refusal is an answer (`ok=False` with the marketplace's own reason); not reaching the
marketplace is not, and raises `MarketplaceUnavailable` so nobody marks a good key invalid
because of an outage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
import requests

from pipelines.http_policy import HttpPolicy, MarketplaceAuthError, MarketplaceError
from pipelines.ozon.helpers import OzonClient, OzonUrls
from pipelines.wildberries.helpers import WbClient, WbUrls
from warehouse.vault import require_fields

MARKETPLACE_NAMES = {"wildberries": "Wildberries", "ozon": "Ozon"}


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    expires_at: datetime | None = None


class MarketplaceUnavailable(RuntimeError):
    """The check could not get an answer (network, 5xx, rate limit): the key is neither good nor bad."""


def _policy(time_scale: float) -> HttpPolicy:
    # An operator waits at the prompt: fewer, shorter retries than a sync spends.
    return HttpPolicy(read_timeout=30.0, max_attempts=3, retry_budget=6, time_scale=time_scale)


def check_credentials(
    marketplace: str, fields: Mapping[str, str], urls: Mapping[str, str], time_scale: float = 1.0
) -> CheckResult:
    """One cheap authenticated call per API the sync needs; `urls` are base URLs by sandbox key
    (`wb_content`, `wb_analytics`, `wb_statistics`, `wb_marketplace`, `wb_common`, `ozon`)."""
    cleaned = require_fields(marketplace, fields)
    name = MARKETPLACE_NAMES[marketplace]
    expires_at = token_expiry(cleaned["token"]) if marketplace == "wildberries" else None
    try:
        if marketplace == "wildberries":
            WbClient(
                cleaned["token"], WbUrls.from_sandbox(dict(urls)), _policy(time_scale)
            ).check_categories()
        else:
            client = OzonClient(
                cleaned["client_id"], cleaned["api_key"], OzonUrls(urls["ozon"]), _policy(time_scale)
            )
            client.check_key()
    except MarketplaceAuthError as exc:
        return CheckResult(False, f"{name}: {exc.reason}", expires_at)
    except MarketplaceError as exc:
        if exc.status == 400:
            # The check's body is fixed, so a 400 is about the credentials themselves
            # (Ozon: "Client-Id header value should be positive integer").
            return CheckResult(False, f"{name}: the key was refused: {exc.reason}", expires_at)
        raise MarketplaceUnavailable(f"could not check the key with {name}: {exc}") from None
    except requests.RequestException as exc:  # e.g. a malformed URL setting
        raise MarketplaceUnavailable(f"could not reach {name}: {type(exc).__name__}") from None
    return CheckResult(True, f"{name} accepted the key", expires_at)


def token_expiry(token: str) -> datetime | None:
    """The `exp` of a WB token (a JWT), read without the signature, which only WB can verify."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None  # not a JWT: WB will say what is wrong with it
    exp = claims.get("exp")
    return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None

"""Connecting a marketplace key, the one way for the API and the bot: the plan's marketplace slots,
then one check with the marketplace, then the key stored encrypted. A refused key is not stored;
nothing here logs or returns the key."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from api import plan_limits
from api.errors import ApiError
from api.models import OzonKey, WildberriesKey
from settings import Settings
from warehouse import tenants
from warehouse.models import Tenant
from warehouse.tenants import CredentialStatus
from warehouse.vault import CredentialVault

log = logging.getLogger("stock_tracker.api")
MARKETPLACE_NAMES = {"wildberries": "Wildberries", "ozon": "Ozon"}


def marketplace_urls(settings: Settings) -> dict[str, str]:
    return {
        "wb_content": settings.wb_content_url,
        "wb_analytics": settings.wb_analytics_url,
        "wb_statistics": settings.wb_statistics_url,
        "wb_marketplace": settings.wb_marketplace_url,
        "wb_common": settings.wb_common_url,
        "ozon": settings.ozon_url,
    }


def connect_key(
    session: Session, settings: Settings, tenant: Tenant, key: WildberriesKey | OzonKey
) -> CredentialStatus:
    """Check and store the key; ApiError 403 (plan), 422 (refused, with the marketplace's reason)
    or 503 (the marketplace did not answer)."""
    # Imported here: the marketplace clients bring dlt's HTTP helpers, which only this needs.
    from pipelines.checks import MarketplaceUnavailable, check_credentials

    plan_limits.check_marketplace_slot(session, tenant, key.marketplace)
    fields = key.model_dump(exclude={"marketplace"})
    try:
        result = check_credentials(
            key.marketplace, fields, marketplace_urls(settings), settings.marketplace_time_scale
        )
    except MarketplaceUnavailable as exc:
        log.warning("credential check failed: %s", exc, extra={"fields": {"marketplace": key.marketplace}})
        raise ApiError(
            503,
            "marketplace_unavailable",
            headers={"Retry-After": "30"},
            marketplace=MARKETPLACE_NAMES[key.marketplace],
        ) from None
    except ValueError as exc:
        raise ApiError(422, "credentials_rejected", reason=str(exc)) from None
    if not result.ok:
        raise ApiError(422, "credentials_rejected", reason=result.message)
    stored = tenants.store_credentials(
        session,
        CredentialVault(settings.fernet_keys),
        tenant.id,
        key.marketplace,
        fields,
        status="valid",
        message=result.message,
        expires_at=result.expires_at,
    )
    log.info(
        "credentials stored",
        extra={"fields": {"marketplace": key.marketplace, "fingerprint": stored.fingerprint}},
    )
    return stored

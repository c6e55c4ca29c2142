"""Marketplace keys: checked with the marketplace before they are stored (encrypted); never shown."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status

from api import plan_limits
from api.deps import CurrentUser, EditorUser, SettingsDep, TenantSessionDep
from api.errors import ApiError, responses
from api.models import CredentialStatusOut, Marketplace, MarketplaceKey
from api.routes import API_PREFIX
from api.views import credential_view, credentials_view
from settings import Settings
from warehouse import tenants
from warehouse.vault import CredentialVault

log = logging.getLogger("stock_tracker.api")
router = APIRouter(prefix=f"{API_PREFIX}/credentials", tags=["credentials"])
MARKETPLACE_NAMES = {"wildberries": "Wildberries", "ozon": "Ozon"}


def _urls(settings: Settings) -> dict[str, str]:
    return {
        "wb_content": settings.wb_content_url,
        "wb_analytics": settings.wb_analytics_url,
        "wb_statistics": settings.wb_statistics_url,
        "wb_marketplace": settings.wb_marketplace_url,
        "wb_common": settings.wb_common_url,
        "ozon": settings.ozon_url,
    }


@router.post("/", status_code=status.HTTP_201_CREATED, responses=responses(400, 401, 403, 422, 429, 503))
def connect(
    body: Annotated[MarketplaceKey, Body()],
    principal: EditorUser,
    session: TenantSessionDep,
    settings: SettingsDep,
) -> CredentialStatusOut:
    """Connect a Wildberries token or an Ozon Client-Id + Api-Key (replacing the previous one).
    The key is tried against the marketplace first; a refused key is not stored."""
    # Imported here: the marketplace clients bring dlt's HTTP helpers, which only this route needs.
    from pipelines.checks import MarketplaceUnavailable, check_credentials

    plan_limits.check_marketplace_slot(session, principal.tenant, body.marketplace)
    fields = body.model_dump(exclude={"marketplace"})
    try:
        result = check_credentials(body.marketplace, fields, _urls(settings), settings.marketplace_time_scale)
    except MarketplaceUnavailable as exc:
        log.warning("credential check failed: %s", exc, extra={"fields": {"marketplace": body.marketplace}})
        raise ApiError(
            503,
            "marketplace_unavailable",
            headers={"Retry-After": "30"},
            marketplace=MARKETPLACE_NAMES[body.marketplace],
        ) from None
    except ValueError as exc:
        raise ApiError(422, "credentials_rejected", reason=str(exc)) from None
    if not result.ok:
        raise ApiError(422, "credentials_rejected", reason=result.message)
    stored = tenants.store_credentials(
        session,
        CredentialVault(settings.fernet_keys),
        principal.tenant_id,
        body.marketplace,
        fields,
        status="valid",
        message=result.message,
        expires_at=result.expires_at,
    )
    log.info(
        "credentials stored",
        extra={"fields": {"marketplace": body.marketplace, "fingerprint": stored.fingerprint}},
    )
    return credential_view(stored)


@router.get("/status", responses=responses(401, 403, 429))
def credential_status(principal: CurrentUser, session: TenantSessionDep) -> list[CredentialStatusOut]:
    """Per marketplace: connected or not, the key's fingerprint, validity, last check, expiry."""
    return credentials_view(tenants.credential_status(session, principal.tenant_id))


@router.delete(
    "/{marketplace}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404, 429)
)
def disconnect(
    marketplace: Annotated[Marketplace, Path()], principal: EditorUser, session: TenantSessionDep
) -> Response:
    """Remove the marketplace's key; syncs stop loading that marketplace."""
    try:
        tenants.delete_credentials(session, principal.tenant_id, marketplace)
    except LookupError:
        raise ApiError(404, "credentials_not_found", marketplace=MARKETPLACE_NAMES[marketplace]) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""Marketplace keys: checked with the marketplace before they are stored (encrypted); never shown."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status

from api.credential_keys import MARKETPLACE_NAMES, connect_key
from api.deps import CurrentUser, EditorUser, SettingsDep, TenantSessionDep
from api.errors import ApiError, responses
from api.models import CredentialStatusOut, Marketplace, MarketplaceKey
from api.routes import API_PREFIX
from api.views import credential_view, credentials_view
from warehouse import tenants

router = APIRouter(prefix=f"{API_PREFIX}/credentials", tags=["credentials"])


@router.post("/", status_code=status.HTTP_201_CREATED, responses=responses(400, 401, 403, 422, 429, 503))
def connect(
    body: Annotated[MarketplaceKey, Body()],
    principal: EditorUser,
    session: TenantSessionDep,
    settings: SettingsDep,
) -> CredentialStatusOut:
    """Connect a Wildberries token or an Ozon Client-Id + Api-Key (replacing the previous one).
    The key is tried against the marketplace first; a refused key is not stored."""
    return credential_view(connect_key(session, settings, principal.tenant, body))


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

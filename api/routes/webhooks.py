"""The seller's outgoing webhooks (Pro and up): endpoints, their deliveries, a test event.

The signing secret is shown once, in the answer that creates the endpoint; events are sent by
Dagster (assets/webhooks.py), so every call here only changes what is queued.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import CurrentUser, EditorUser, Principal, SettingsDep, TenantSessionDep
from api.errors import ApiError, responses
from api.routes import API_PREFIX
from warehouse import webhooks
from warehouse.models import WebhookDelivery, WebhookEndpoint
from warehouse.plans import PLANS, first_allowing
from warehouse.vault import CredentialVault

router = APIRouter(prefix=f"{API_PREFIX}/webhooks", tags=["webhooks"])
EventType = Literal["sync.completed", "sync.failed", "stock.low"]
EndpointId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class EndpointIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000)
    events: list[EventType] = Field(default_factory=lambda: list(webhooks.EVENT_TYPES), min_length=1)


class EndpointPatch(BaseModel):
    url: str | None = Field(None, min_length=8, max_length=2000)
    events: list[EventType] | None = Field(None, min_length=1)
    enabled: bool | None = None


class EndpointOut(BaseModel):
    id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime


class CreatedEndpointOut(EndpointOut):
    # Shown only here: keep it to check `Stock-Tracker-Signature`.
    secret: str


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def require_webhook_plan(principal: CurrentUser) -> Principal:
    if not PLANS[principal.tenant.tier].outgoing_webhooks:
        better = first_allowing(lambda p: p.outgoing_webhooks)
        raise ApiError(403, "webhooks_not_in_plan", plan=better.name if better else "-")
    return principal


WebhookUser = Annotated[Principal, Depends(require_webhook_plan)]


def _out(e: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=e.id,
        url=e.url,
        events=list(e.events),
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        created_at=e.created_at,
    )


def _delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        event_id=d.event_id,
        event_type=d.event_type,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
    )


def _checked_url(url: str, production: bool) -> str:
    try:
        return webhooks.check_url(url, production=production)
    except webhooks.WebhookUrlRefused as exc:
        raise ApiError(422, "webhook_url_refused", reason=str(exc)) from None


def _find(session: TenantSessionDep, principal: Principal, endpoint_id: int) -> WebhookEndpoint:
    found = webhooks.endpoint(session, principal.tenant_id, endpoint_id)
    if found is None:
        raise ApiError(404, "webhook_not_found")
    return found


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(400, 401, 403, 422, 429))
def add_endpoint(
    body: EndpointIn,
    principal: WebhookUser,
    editor: EditorUser,
    session: TenantSessionDep,
    settings: SettingsDep,
) -> CreatedEndpointOut:
    """Add a URL that gets signed events (owners and admins, Pro and up); the secret is shown once."""
    url = _checked_url(body.url, settings.environment == "production")
    secret = webhooks.new_secret()
    row = WebhookEndpoint(
        tenant_id=principal.tenant_id,
        url=url,
        secret=CredentialVault(settings.fernet_keys).encrypt({"secret": secret}),
        events=sorted(set(body.events)),
    )
    session.add(row)
    session.commit()
    return CreatedEndpointOut(**_out(row).model_dump(), secret=secret)


@router.get("", responses=responses(401, 403, 429))
def list_endpoints(principal: WebhookUser, session: TenantSessionDep) -> list[EndpointOut]:
    """Your webhook endpoints (never their secrets)."""
    return [_out(e) for e in webhooks.endpoints(session, principal.tenant_id)]


@router.patch("/{endpoint_id}", responses=responses(400, 401, 403, 404, 422, 429))
def update_endpoint(
    endpoint_id: EndpointId,
    body: EndpointPatch,
    principal: WebhookUser,
    editor: EditorUser,
    session: TenantSessionDep,
    settings: SettingsDep,
) -> EndpointOut:
    """Change the URL or events, or enable a disabled endpoint again."""
    row = _find(session, principal, endpoint_id)
    if body.url is not None:
        row.url = _checked_url(body.url, settings.environment == "production")
    if body.events is not None:
        row.events = sorted(set(body.events))
    if body.enabled is not None:
        row.enabled = body.enabled
        if body.enabled:
            row.consecutive_failures, row.disabled_reason = 0, None
    session.commit()
    return _out(row)


@router.delete(
    "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404, 422, 429)
)
def delete_endpoint(
    endpoint_id: EndpointId, principal: WebhookUser, editor: EditorUser, session: TenantSessionDep
) -> Response:
    """Remove the endpoint and its queued deliveries."""
    session.delete(_find(session, principal, endpoint_id))
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{endpoint_id}/deliveries", responses=responses(401, 403, 404, 422, 429))
def list_deliveries(
    endpoint_id: EndpointId, principal: WebhookUser, session: TenantSessionDep
) -> list[DeliveryOut]:
    """The latest 50 deliveries to this endpoint: status, attempts, the receiver's last answer."""
    row = _find(session, principal, endpoint_id)
    return [_delivery_out(d) for d in webhooks.deliveries(session, row.id)]


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(401, 403, 404, 409, 422, 429),
)
def send_test_event(
    endpoint_id: EndpointId, principal: WebhookUser, editor: EditorUser, session: TenantSessionDep
) -> DeliveryOut:
    """Queue a `webhook.test` event for this endpoint; it is sent within a minute."""
    row = _find(session, principal, endpoint_id)
    if not row.enabled:
        raise ApiError(409, "webhook_disabled")
    webhooks.enqueue(session, principal.tenant_id, webhooks.TEST_EVENT, {"message": "test"}, only=row)
    session.commit()
    return _delivery_out(webhooks.deliveries(session, row.id, limit=1)[0])

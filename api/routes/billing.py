"""Plans, the tenant's subscription and usage, Stripe Checkout and the billing portal, and the
webhook Stripe signs (DESIGN §6a). Only owners buy, cancel or open the portal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import stripe
from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import func, select

from api.deps import CurrentUser, OwnerUser, SessionDep, SettingsDep, TenantSessionDep
from api.errors import ApiError, responses
from api.plan_limits import manual_syncs_last_hour
from api.quota import period_of
from api.routes import API_PREFIX
from resources.stripe_billing import BillingUnavailable, StripeBilling
from warehouse.billing import process_event, subscription_of, sync_gate, trial_days_left
from warehouse.models import MarketplaceCredential, Subscription
from warehouse.plans import ORDER, PLANS, TRIAL_DAYS
from warehouse.tenant_scope import lock_tenant

router = APIRouter(prefix=f"{API_PREFIX}/billing", tags=["billing"])
Tier = Literal["starter", "pro", "enterprise"]
# Stripe's default tolerance: a signature older than five minutes is a replay.
SIGNATURE_TOLERANCE_SECONDS = 300


class PlanOut(BaseModel):
    tier: str
    name: str
    price_usd_per_month: str
    trial_days: int
    api_calls_per_month: int
    sync_every_minutes: int
    products: int
    marketplaces: int | None
    outgoing_webhooks: bool
    manual_syncs_per_hour: int


class SubscriptionOut(BaseModel):
    tier: str
    status: str
    trial_ends_at: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    # A downgrade waiting for the period end.
    pending_tier: str | None
    syncs_active: bool
    # Why syncs are stopped or on grace (a message code), and the grace's end.
    syncs_note: str | None
    grace_until: datetime | None


class UsageItem(BaseModel):
    used: int
    limit: int | None


class UsageOut(BaseModel):
    tier: str
    period: str
    resets_at: datetime
    api_calls: UsageItem
    manual_syncs_this_hour: UsageItem
    marketplaces: UsageItem
    products_limit: int


class TierBody(BaseModel):
    tier: Tier


class UrlOut(BaseModel):
    url: str


def get_billing(settings: SettingsDep, request: Request) -> StripeBilling:
    billing: StripeBilling | None = getattr(request.app.state, "billing", None)
    if billing is None or not billing.configured:
        raise ApiError(503, "billing_not_configured")
    return billing


BillingDep = Annotated[StripeBilling, Depends(get_billing)]


def _plan_out(tier: str) -> PlanOut:
    p = PLANS[tier]
    return PlanOut(
        tier=p.tier,
        name=p.name,
        price_usd_per_month=p.price_usd,
        trial_days=TRIAL_DAYS,
        api_calls_per_month=p.api_calls_per_month,
        sync_every_minutes=p.sync_every_minutes,
        products=p.products,
        marketplaces=p.marketplaces,
        outgoing_webhooks=p.outgoing_webhooks,
        manual_syncs_per_hour=p.manual_syncs_per_hour,
    )


@router.get("/plans")
def plans() -> list[PlanOut]:
    """The plans, their monthly price in USD and what each allows."""
    return [_plan_out(t) for t in ORDER]


def _require_subscription(session: Any, tenant_id: str) -> Subscription:
    sub = subscription_of(session, tenant_id)
    if sub is None:
        # Tenants made before billing (CLI, demo) get their starter trial row on first look.
        sub = Subscription(tenant_id=tenant_id, tier="starter", status="trialing")
        session.add(sub)
        session.commit()
    return sub


@router.get("/subscription", responses=responses(401, 403, 429))
def subscription(principal: CurrentUser, session: TenantSessionDep) -> SubscriptionOut:
    """Your plan, its status (trialing, active, past_due, paused, canceled, unpaid) and whether syncs run."""
    sub = _require_subscription(session, principal.tenant_id)
    gate = sync_gate(sub)
    return SubscriptionOut(
        tier=principal.tenant.tier,
        status=sub.status,
        trial_ends_at=sub.trial_ends_at,
        current_period_end=sub.current_period_end,
        cancel_at_period_end=sub.cancel_at_period_end,
        pending_tier=sub.pending_tier,
        syncs_active=gate.allowed,
        syncs_note=gate.reason,
        grace_until=gate.grace_until,
    )


@router.get("/usage", responses=responses(401, 403, 429))
def usage(request: Request, principal: CurrentUser, session: TenantSessionDep) -> UsageOut:
    """This month's API calls, this hour's manual syncs, and connected marketplaces against the plan."""
    tenant = principal.tenant
    plan = PLANS[tenant.tier]
    now = datetime.now(UTC)
    period, resets_at = period_of(now)
    connected = session.scalar(
        select(func.count())
        .select_from(MarketplaceCredential)
        .where(MarketplaceCredential.tenant_id == tenant.id)
    )
    return UsageOut(
        tier=tenant.tier,
        period=period,
        resets_at=resets_at,
        api_calls=UsageItem(
            used=request.app.state.quota.used(session, tenant.id, now), limit=plan.api_calls_per_month
        ),
        manual_syncs_this_hour=UsageItem(
            used=manual_syncs_last_hour(session, tenant.id)[0], limit=plan.manual_syncs_per_hour
        ),
        marketplaces=UsageItem(used=int(connected or 0), limit=plan.marketplaces),
        products_limit=plan.products,
    )


def _customer(session: Any, billing: StripeBilling, principal: Any) -> tuple[Subscription, str]:
    """The tenant's one Stripe customer, created on first need (the tenant row locked meanwhile)."""
    lock_tenant(session, principal.tenant_id)
    sub = _require_subscription(session, principal.tenant_id)
    if sub.stripe_customer_id is None:
        sub.stripe_customer_id = billing.create_customer(
            principal.tenant_id, principal.tenant.name, principal.user.email
        )
        session.commit()
    return sub, sub.stripe_customer_id


def _stripe_call(call: Any) -> Any:
    try:
        return call()
    except (stripe.StripeError, BillingUnavailable):
        raise ApiError(502, "billing_unavailable") from None


@router.post("/checkout-session", responses=responses(400, 401, 403, 409, 422, 429, 502, 503))
def checkout_session(
    body: TierBody,
    principal: OwnerUser,
    session: TenantSessionDep,
    billing: BillingDep,
    settings: SettingsDep,
) -> UrlOut:
    """A Stripe Checkout page for the plan (owners); the trial days you have left carry over."""
    sub, customer = _stripe_call(lambda: _customer(session, billing, principal))
    if sub.stripe_subscription_id is not None and sub.status not in ("canceled", "unpaid", "paused"):
        raise ApiError(409, "subscription_exists")
    url = _stripe_call(
        lambda: billing.checkout_url(
            tenant_id=principal.tenant_id,
            customer_id=customer,
            tier=body.tier,
            trial_days=trial_days_left(sub),
            public_url=settings.public_url,
        )
    )
    return UrlOut(url=url)


@router.post("/portal-session", responses=responses(401, 403, 429, 502, 503))
def portal_session(
    principal: OwnerUser, session: TenantSessionDep, billing: BillingDep, settings: SettingsDep
) -> UrlOut:
    """Stripe's billing portal: cards, invoices, plan (owners)."""
    _, customer = _stripe_call(lambda: _customer(session, billing, principal))
    return UrlOut(url=_stripe_call(lambda: billing.portal_url(customer, settings.public_url)))


@router.post("/cancel", responses=responses(401, 403, 409, 429, 502, 503))
def cancel(principal: OwnerUser, session: TenantSessionDep, billing: BillingDep) -> SubscriptionOut:
    """Cancel at the end of the paid period (owners); data is kept."""
    sub = _require_subscription(session, principal.tenant_id)
    if sub.stripe_subscription_id is None or sub.status == "canceled":
        raise ApiError(409, "no_subscription")
    _stripe_call(lambda: billing.cancel_at_period_end(str(sub.stripe_subscription_id)))
    sub.cancel_at_period_end = True
    session.commit()
    return subscription(principal, session)


@router.post("/change-plan", responses=responses(400, 401, 403, 409, 422, 429, 502, 503))
def change_plan(
    body: TierBody, principal: OwnerUser, session: TenantSessionDep, billing: BillingDep
) -> SubscriptionOut:
    """Move to another plan (owners): an upgrade now, prorated; a downgrade at the period end."""
    sub = _require_subscription(session, principal.tenant_id)
    if sub.stripe_subscription_id is None or sub.status in ("canceled", "unpaid"):
        raise ApiError(409, "no_subscription")
    current = principal.tenant.tier
    if body.tier == current and sub.pending_tier is None:
        raise ApiError(409, "same_tier")
    upgrade = ORDER.index(body.tier) > ORDER.index(current)
    _stripe_call(lambda: billing.change_plan(str(sub.stripe_subscription_id), body.tier, upgrade=upgrade))
    if not upgrade:
        sub.pending_tier = None if body.tier == current else body.tier
        session.commit()
    return subscription(principal, session)


@router.post("/webhook", include_in_schema=False)
async def webhook(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> dict[str, bool]:
    """Stripe's events, verified with the endpoint's secret; each event id is applied once."""
    payload = await request.body()
    secret = settings.stripe_webhook_secret
    if not secret or not stripe_signature:
        raise ApiError(400, "invalid_signature")
    try:
        event = stripe.Webhook.construct_event(
            payload, stripe_signature, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
        )
    except (stripe.SignatureVerificationError, ValueError):
        raise ApiError(400, "invalid_signature") from None
    billing: StripeBilling | None = getattr(request.app.state, "billing", None)
    fetch = _subscription_fetcher(billing) if billing is not None and billing.configured else None
    try:
        # In the thread pool: the database and, rarely, a call to Stripe must not block the loop.
        applied = await run_in_threadpool(process_event, session, event.to_dict(), fetch)
    except (stripe.StripeError, BillingUnavailable):
        # Nothing was stored: Stripe delivers the event again later and it is settled then.
        session.rollback()
        raise ApiError(503, "billing_unavailable") from None
    return {"received": True, "duplicate": not applied}


def _subscription_fetcher(billing: StripeBilling) -> Any:
    def fetch(subscription_id: str) -> dict[str, Any]:
        return dict(billing.subscription(subscription_id).to_dict())

    return fetch

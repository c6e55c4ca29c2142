"""The app's copy of each tenant's subscription, kept from Stripe's signed webhooks (DESIGN §6a).

Stripe is the source of truth; this copy answers "what plan, may it sync" without a call to Stripe.
Each event id is applied once (`stripe_events`), and a subscription state older than the one kept
never overwrites it (events arrive in any order): `stripe_state_at` holds the `created` time of
the event the kept state came from. `created` has whole seconds, so two states of one second
cannot be ordered by it: then the subscription as Stripe holds it now is applied instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warehouse.models import StripeEvent, Subscription, Tenant, utcnow
from warehouse.plans import GRACE_DAYS, ORDER, by_lookup_key

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
)
STRIPE_STATUSES = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "canceled": "canceled",
    "unpaid": "unpaid",
    "paused": "paused",
    # A first payment still being attempted: Stripe keeps the subscription unusable.
    "incomplete": "past_due",
    "incomplete_expired": "canceled",
}


# Retrieves a subscription from Stripe by id (a plain dict); raises when Stripe cannot answer.
SubscriptionFetcher = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class SyncGate:
    """Whether the plan lets the tenant sync now, and if not, why (`reason` is a message code)."""

    allowed: bool
    reason: str | None = None
    grace_until: datetime | None = None

    @property
    def read_only(self) -> bool:
        return self.reason in ("subscription_canceled", "subscription_unpaid")


def subscription_of(session: Session, tenant_id: str) -> Subscription | None:
    return session.scalar(select(Subscription).where(Subscription.tenant_id == tenant_id))


def sync_gate(sub: Subscription | None, now: datetime | None = None) -> SyncGate:
    now = now or utcnow()
    if sub is None:
        return SyncGate(True)
    status = sub.status
    if status == "trialing":
        if sub.trial_ends_at is not None and sub.trial_ends_at <= now and sub.stripe_subscription_id is None:
            # The trial ran out and no card was given at checkout: syncs pause, data stays.
            return SyncGate(False, "trial_ended")
        return SyncGate(True)
    if status == "active":
        return SyncGate(True)
    if status == "past_due":
        since = sub.past_due_since or now
        until = since + timedelta(days=GRACE_DAYS)
        if now < until:
            return SyncGate(True, "payment_failed_grace", until)
        return SyncGate(False, "payment_failed", until)
    if status == "paused":
        return SyncGate(False, "trial_ended")
    return SyncGate(False, f"subscription_{status}")


def blocked_tenants(session: Session, now: datetime | None = None) -> set[str]:
    """Tenants whose plan stops their syncs now (the schedules leave them out)."""
    return {sub.tenant_id for sub in session.scalars(select(Subscription)) if not sync_gate(sub, now).allowed}


def trial_days_left(sub: Subscription | None, now: datetime | None = None) -> int:
    """Whole days of the free trial still unused: Checkout starts the paid plan after them."""
    if sub is None or sub.trial_ends_at is None or sub.stripe_subscription_id is not None:
        return 0
    left = (sub.trial_ends_at - (now or utcnow())).total_seconds() / 86_400
    return max(0, math.ceil(left)) if left > 0 else 0


# --- webhooks ---------------------------------------------------------------------------------


def process_event(
    session: Session, event: dict[str, Any], fetch_subscription: SubscriptionFetcher | None = None
) -> bool:
    """Apply one verified Stripe event; False when this event id was already processed.

    The event row and its effects commit together, so a crash in between leaves the event
    unprocessed (Stripe retries it) rather than processed-but-lost. `fetch_subscription` settles
    a subscription event from the same second as the kept state (Stripe's current object wins);
    if it raises, nothing is stored and the event can be delivered again.
    """
    event_id, type_ = str(event["id"]), str(event["type"])
    obj: dict[str, Any] = event["data"]["object"]
    created = int(event.get("created") or 0)
    if session.get(StripeEvent, event_id) is not None:
        return False
    tenant_id: str | None = None
    if type_ == "checkout.session.completed":
        tenant_id = _on_checkout_completed(session, obj)
    elif type_ in SUBSCRIPTION_EVENTS:
        tenant_id = _on_subscription(session, obj, created, type_, fetch_subscription)
    elif type_ in ("invoice.paid", "invoice.payment_failed"):
        tenant_id = _on_invoice(session, obj, created, paid=type_ == "invoice.paid")
    elif type_ == "customer.subscription.trial_will_end":
        found = _subscription_for(session, obj)
        tenant_id = found.tenant_id if found else None
    session.add(StripeEvent(id=event_id, type=type_, tenant_id=tenant_id))
    try:
        session.commit()
    except IntegrityError:
        # The same event delivered twice at once: the other delivery applied it.
        session.rollback()
        return False
    return True


def _subscription_for(session: Session, obj: dict[str, Any]) -> Subscription | None:
    """The tenant's row for a Stripe object: by subscription id, tenant metadata, or customer."""
    sub_id = obj.get("id") if obj.get("object") == "subscription" else _invoice_subscription(obj)
    if sub_id:
        found = session.scalar(select(Subscription).where(Subscription.stripe_subscription_id == sub_id))
        if found is not None:
            return found
    tenant = (obj.get("metadata") or {}).get("tenant") or obj.get("client_reference_id")
    if tenant:
        found = subscription_of(session, str(tenant))
        if found is not None:
            return found
    customer = obj.get("customer")
    if customer:
        return session.scalar(select(Subscription).where(Subscription.stripe_customer_id == customer))
    return None


def _invoice_subscription(obj: dict[str, Any]) -> str | None:
    if obj.get("object") != "invoice":
        return None
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    return parent.get("subscription") or obj.get("subscription")


def _on_checkout_completed(session: Session, obj: dict[str, Any]) -> str | None:
    sub = _subscription_for(session, obj)
    if sub is None:
        return None
    sub.stripe_customer_id = sub.stripe_customer_id or obj.get("customer")
    if obj.get("subscription") and sub.stripe_subscription_id in (None, obj["subscription"]):
        sub.stripe_subscription_id = obj["subscription"]
    return sub.tenant_id


def _on_subscription(
    session: Session,
    obj: dict[str, Any],
    created: int,
    type_: str,
    fetch: SubscriptionFetcher | None = None,
) -> str | None:
    sub = _subscription_for(session, obj)
    if sub is None:
        return None
    if sub.stripe_subscription_id not in (None, obj["id"]) and _newer_subscription_kept(sub, obj):
        return sub.tenant_id
    kept = sub.stripe_state_at or 0
    if created < kept or (created == kept and type_ == "customer.subscription.created"):
        return sub.tenant_id  # an older state than the one kept: never go back
    if created == kept and fetch is not None:
        # Two states from the same second (e.g. cancel, then resume): `created` cannot tell which
        # came last, Stripe's own copy can. Applying it is what the later event would have done.
        obj = fetch(str(obj["id"]))
    status = STRIPE_STATUSES.get(str(obj.get("status")), sub.status)
    item = ((obj.get("items") or {}).get("data") or [{}])[0]
    plan = by_lookup_key(str((item.get("price") or {}).get("lookup_key") or ""))
    period_end = _time(item.get("current_period_end") or obj.get("current_period_end"))
    tenant = session.get(Tenant, sub.tenant_id)
    if plan is not None and tenant is not None:
        same_period = sub.current_period_end is not None and period_end == sub.current_period_end
        downgrade = ORDER.index(plan.tier) < ORDER.index(sub.tier)
        if downgrade and same_period and status != "canceled":
            # A downgrade waits for the period the seller paid for to end; data is never deleted.
            sub.pending_tier = plan.tier
        else:
            sub.tier, sub.pending_tier = plan.tier, None
            # The tier moves the tenant's partition: its new tier's schedule picks it up next tick.
            tenant.tier = plan.tier
    if status == "past_due" and sub.past_due_since is None:
        sub.past_due_since = _time(created) or utcnow()
    if status in ("active", "trialing"):
        sub.past_due_since = None
    sub.status = status
    sub.stripe_subscription_id = obj["id"]
    sub.stripe_customer_id = obj.get("customer") or sub.stripe_customer_id
    sub.trial_ends_at = _time(obj.get("trial_end")) if obj.get("trial_end") else sub.trial_ends_at
    sub.current_period_end = period_end or sub.current_period_end
    sub.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
    sub.stripe_state_at = created
    return sub.tenant_id


def _newer_subscription_kept(sub: Subscription, obj: dict[str, Any]) -> bool:
    """A tenant re-subscribed: events of its old, canceled subscription change nothing."""
    return obj.get("status") == "canceled" or int(obj.get("created") or 0) < (sub.stripe_state_at or 0)


def _on_invoice(session: Session, obj: dict[str, Any], created: int, *, paid: bool) -> str | None:
    sub = _subscription_for(session, obj)
    if sub is None or created < (sub.stripe_state_at or 0):
        return sub.tenant_id if sub else None
    if paid:
        sub.past_due_since = None
        if sub.status in ("past_due", "unpaid"):
            sub.status = "active"
    else:
        sub.past_due_since = sub.past_due_since or _time(created) or utcnow()
        if sub.status in ("active", "trialing"):
            sub.status = "past_due"
    sub.stripe_state_at = created
    return sub.tenant_id


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None

"""Stripe through stripe-python's `StripeClient`: the plan catalogue, one customer per tenant,
Checkout, the billing portal, cancelling and changing plans (DESIGN §6a).

The base URL is a setting, so the same calls go to Stripe or to the sandbox's stand-in. Every
creating call carries an idempotency key derived from what it creates, so a retried request (ours
or stripe-python's own retries) never makes a second customer or price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from warehouse.plans import ORDER, PLANS, Plan

PRODUCT_PREFIX = "stock_tracker_"
# stripe-python's own retries: it backs off and honours Stripe-Should-Retry on 409/429/5xx.
NETWORK_RETRIES = 2
TIMEOUT_SECONDS = 20


class BillingUnavailable(Exception):
    """Stripe could not be reached or refused the call; the message is safe to show."""


@dataclass(frozen=True)
class CatalogueEntry:
    tier: str
    product_id: str
    price_id: str
    created: bool


class StripeBilling(ConfigurableResource):
    api_url: str = "https://api.stripe.com"
    # The secret key; empty means billing is not configured (the API says so, nothing crashes).
    secret_key: str = Field("", repr=False)
    timeout_seconds: float = TIMEOUT_SECONDS

    _client: stripe.StripeClient | None = PrivateAttr(default=None)

    @property
    def configured(self) -> bool:
        return bool(self.secret_key)

    @property
    def client(self) -> stripe.StripeClient:
        if not self.secret_key:
            raise BillingUnavailable("billing is not configured (STOCK_TRACKER_STRIPE_SECRET_KEY)")
        if self._client is None:
            self._client = stripe.StripeClient(
                self.secret_key,
                base_addresses={"api": self.api_url},
                max_network_retries=NETWORK_RETRIES,
                http_client=stripe.RequestsClient(timeout=self.timeout_seconds),
            )
        return self._client

    # --- catalogue -------------------------------------------------------------------------------

    def prices_by_tier(self) -> dict[str, Any]:
        keys = [PLANS[t].lookup_key for t in ORDER]
        found = self.client.v1.prices.list(params={"lookup_keys": keys, "active": True, "limit": 10})
        by_key = {p.lookup_key: p for p in found.data}
        return {t: by_key[PLANS[t].lookup_key] for t in ORDER if PLANS[t].lookup_key in by_key}

    def setup_catalogue(self) -> list[CatalogueEntry]:
        """A product and a monthly USD price per plan; what exists (by lookup key) is left alone."""
        existing = self.prices_by_tier()
        entries = []
        for tier in ORDER:
            plan = PLANS[tier]
            price = existing.get(tier)
            if price is not None and price.unit_amount == plan.price_cents:
                entries.append(CatalogueEntry(tier, str(price.product), price.id, False))
                continue
            product = self._product(plan)
            new_price = self.client.v1.prices.create(
                params={
                    "product": product.id,
                    "currency": "usd",
                    "unit_amount": plan.price_cents,
                    "recurring": {"interval": "month"},
                    "lookup_key": plan.lookup_key,
                    # A changed amount takes the key over from the old price.
                    "transfer_lookup_key": price is not None,
                    "metadata": {"tier": tier},
                },
                options={"idempotency_key": f"price-{plan.lookup_key}-{plan.price_cents}"},
            )
            entries.append(CatalogueEntry(tier, product.id, new_price.id, True))
        return entries

    def _product(self, plan: Plan) -> Any:
        product_id = PRODUCT_PREFIX + plan.tier
        try:
            return self.client.v1.products.retrieve(product_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise
        return self.client.v1.products.create(
            params={"id": product_id, "name": f"Stock Tracker {plan.name}", "metadata": {"tier": plan.tier}},
            options={"idempotency_key": f"product-{product_id}"},
        )

    # --- a tenant's billing -------------------------------------------------------------------------

    def create_customer(self, tenant_id: str, name: str, email: str) -> str:
        customer = self.client.v1.customers.create(
            params={"name": name, "email": email, "metadata": {"tenant": tenant_id}},
            options={"idempotency_key": f"customer-{tenant_id}"},
        )
        return customer.id

    def checkout_url(
        self, *, tenant_id: str, customer_id: str, tier: str, trial_days: int, public_url: str
    ) -> str:
        price = self.prices_by_tier().get(tier)
        if price is None:
            key = PLANS[tier].lookup_key
            raise BillingUnavailable(f"no Stripe price with lookup key {key}: run billing setup")
        subscription_data: dict[str, Any] = {"metadata": {"tenant": tenant_id, "tier": tier}}
        if trial_days > 0:
            subscription_data["trial_period_days"] = trial_days
        session = self.client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": tenant_id,
                "line_items": [{"price": price.id, "quantity": 1}],
                "subscription_data": subscription_data,
                "metadata": {"tenant": tenant_id, "tier": tier},
                "success_url": f"{public_url}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
                "cancel_url": f"{public_url}/billing/cancelled",
            }
        )
        return str(session.url)

    def portal_url(self, customer_id: str, public_url: str) -> str:
        session = self.client.v1.billing_portal.sessions.create(
            params={"customer": customer_id, "return_url": f"{public_url}/billing"}
        )
        return str(session.url)

    def subscription(self, subscription_id: str) -> Any:
        return self.client.v1.subscriptions.retrieve(subscription_id)

    def cancel_at_period_end(self, subscription_id: str) -> Any:
        return self.client.v1.subscriptions.update(subscription_id, params={"cancel_at_period_end": True})

    def change_plan(self, subscription_id: str, tier: str, *, upgrade: bool) -> Any:
        """An upgrade is charged now, prorated; a downgrade takes effect at the period end."""
        sub = self.subscription(subscription_id)
        price = self.prices_by_tier()[tier]
        item = sub["items"]["data"][0]
        return self.client.v1.subscriptions.update(
            subscription_id,
            params={
                "items": [{"id": item["id"], "price": price.id}],
                "proration_behavior": "always_invoice" if upgrade else "none",
                "cancel_at_period_end": False,
                "metadata": {"tier": tier},
            },
        )


def billing_from_settings(settings: Any) -> StripeBilling:
    return StripeBilling(
        api_url=settings.stripe_api_url,
        secret_key=settings.stripe_secret_key,
        timeout_seconds=settings.stripe_timeout_seconds,
    )

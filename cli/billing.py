"""`stock-tracker billing`: the Stripe side of the plans (DESIGN §6a)."""

from __future__ import annotations

from typing import Any

import click

from settings import get_settings

# The Stripe sandbox takes test keys only; `demo` and `dev` use this one, so a real key stays out.
SANDBOX_STRIPE_KEY = "sk_test_sandbox"
# What `demo` says about checkout (one console line); the steps in full are in docs/billing.md.
CHECKOUT_HINT = "with make dev: POST /api/v1/billing/checkout-session, pay at its url: card=4242424242424242"


def setup_sandbox_billing(stripe_url: str) -> list[Any]:
    """`billing setup` against the sandbox's Stripe: the plans' products and prices, idempotently."""
    from resources.stripe_billing import StripeBilling

    return StripeBilling(api_url=stripe_url, secret_key=SANDBOX_STRIPE_KEY).setup_catalogue()


@click.group("billing")
def billing_group() -> None:
    """Plans and prices in Stripe."""


@billing_group.command("setup")
def billing_setup() -> None:
    """Create the plans' products and monthly USD prices in Stripe (by lookup key `<tier>_monthly`);
    running it again creates nothing new."""
    import stripe

    from resources.stripe_billing import BillingUnavailable, billing_from_settings
    from warehouse.plans import PLANS

    billing = billing_from_settings(get_settings())
    try:
        entries = billing.setup_catalogue()
    except BillingUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except stripe.StripeError as exc:
        raise click.ClickException(f"Stripe refused: {exc.user_message or type(exc).__name__}") from None
    for entry in entries:
        plan = PLANS[entry.tier]
        state = "created" if entry.created else "exists"
        click.echo(f"{plan.lookup_key:<20} ${plan.price_usd}/month  {entry.price_id}  {state}")

"""`stock-tracker billing`: the Stripe side of the plans (DESIGN §6a)."""

from __future__ import annotations

import click

from settings import get_settings


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

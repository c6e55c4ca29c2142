"""The plans (DESIGN §6a) in one table: every limit, price and cadence reads it from here.

API quota, connected marketplaces, products in the sheet and reports, manual syncs, outgoing
webhooks and the Stripe prices (lookup key `<tier>_monthly`) all come from `PLANS`, so changing a
plan is one edit here (and `stock-tracker billing setup` for a new price).
"""

from __future__ import annotations

from dataclasses import dataclass

TRIAL_DAYS = 14
# A failed payment keeps syncs going this long before they stop (status past_due).
GRACE_DAYS = 7


@dataclass(frozen=True)
class Plan:
    tier: str
    name: str
    price_cents: int  # USD per month
    api_calls_per_month: int
    sync_every_minutes: int
    products: int
    marketplaces: int | None  # None: unlimited
    outgoing_webhooks: bool
    manual_syncs_per_hour: int

    @property
    def lookup_key(self) -> str:
        return f"{self.tier}_monthly"

    @property
    def price_usd(self) -> str:
        return f"{self.price_cents / 100:.2f}"


PLANS: dict[str, Plan] = {
    p.tier: p
    for p in (
        Plan("starter", "Starter", 990, 1_000, 120, 100, 1, False, 2),
        Plan("pro", "Pro", 2990, 10_000, 30, 1_000, 2, True, 6),
        Plan("enterprise", "Enterprise", 9990, 100_000, 10, 10_000, None, True, 20),
    )
}
ORDER = tuple(PLANS)


def plan(tier: str) -> Plan:
    return PLANS[tier]


def by_lookup_key(lookup_key: str) -> Plan | None:
    return next((p for p in PLANS.values() if p.lookup_key == lookup_key), None)


def first_allowing(predicate: object) -> Plan | None:
    """The cheapest plan for which `predicate(plan)` holds: named in limit errors ("Pro allows it")."""
    return next((p for p in PLANS.values() if predicate(p)), None)  # type: ignore[operator]


def left_out_note(locale: str, tier: str, left_out: int, of_all: int | None = None) -> str:
    """What a seller reads wherever products were left out: how many (`left_out`, e.g. of one
    worksheet), and which plan shows them all (`of_all`: left out across the tenant's catalogue)."""
    current = PLANS[tier]
    needed = current.products + (left_out if of_all is None else of_all)
    covering = first_allowing(lambda p: p.products >= needed)
    if locale == "en":
        text = (
            f"Showing the first {current.products} products by seller article (the {current.name} plan). "
            f"Left out: {left_out}. "
        )
        return text + (f"The {covering.name} plan covers them all" if covering else "No plan shows more")
    text = (
        f"Показаны первые {current.products} товаров по артикулу продавца: тариф {current.name}. "
        f"Не показано: {left_out}. "
    )
    return text + (f"Все товары — на тарифе {covering.name}" if covering else "Тарифа с большим числом нет")

"""The Stripe stand-in's objects and clock: products, prices, customers, payment methods, checkout
and portal sessions, subscriptions, invoices and the events they raise.

Shapes follow Stripe's API (reference/specs/stripe/, the fixtures of stripe/openapi): current
periods live on subscription items, as in Stripe's API since 2025-03. The clock starts at real
time and only moves forward (`advance`), which is how trials end and periods renew here.
"""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.stripe.errors import StripeError, missing

API_VERSION = "2025-09-30.clover"
MONTH = 30 * 86_400
TRIAL_WILL_END_BEFORE = 3 * 86_400
# Stripe's test cards (docs.stripe.com/testing): one that pays, one that attaches and then fails.
CARD_PAYS = "4242424242424242"
CARD_ATTACHES_THEN_FAILS = "4000000000000341"
CARD_DECLINED = "4000000000000002"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class StripeSandbox:
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_hex(24))
    forward_to: str | None = None
    offset: float = 0.0  # seconds the clock was advanced
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> object
    events: list[dict[str, Any]] = field(default_factory=list)
    idempotent: dict[tuple[str, str], tuple[str, int, bytes]] = field(default_factory=dict)
    # Events waiting for delivery (the delivery task drains it; sandbox/stripe/delivery.py).
    outbox: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    # --- basics -------------------------------------------------------------------------------

    def now(self) -> int:
        return int(time.time() + self.offset)

    def get(self, kind: str, id: str) -> dict[str, Any]:
        found = self.objects.get(id)
        if found is None or found["object"] != kind:
            raise missing(kind.replace("_", " ").split(".")[-1], id)
        return found

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o["object"] == kind]

    def _add(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        return obj

    def emit(self, type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"object": copy.deepcopy(self.public(obj))}
        if previous:
            data["previous_attributes"] = previous
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.forward_to else 0,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }
        self.events.append(event)
        if self.forward_to:
            self.outbox.append(event)
        return event

    # --- catalogue ------------------------------------------------------------------------------

    def create_product(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("name"):
            raise StripeError(400, "Missing required param: name.", code="parameter_missing", param="name")
        return self._add(
            {
                "id": p.get("id") or new_id("prod"),
                "object": "product",
                "active": True,
                "created": self.now(),
                "name": p["name"],
                "description": p.get("description"),
                "metadata": p.get("metadata") or {},
                "livemode": False,
            }
        )

    def create_price(self, p: dict[str, Any]) -> dict[str, Any]:
        product = self.get("product", p.get("product", ""))
        key = p.get("lookup_key")
        if key and any(x.get("lookup_key") == key for x in self.of_kind("price")):
            if p.get("transfer_lookup_key") != "true":
                raise StripeError(
                    400,
                    f"A price (`{key}`) already uses that lookup key.",
                    code="lookup_key_already_used",
                    param="lookup_key",
                )
            for x in self.of_kind("price"):
                if x.get("lookup_key") == key:
                    x["lookup_key"] = None
        try:
            amount = int(p["unit_amount"])
        except (KeyError, ValueError):
            raise StripeError(400, "Missing required param: unit_amount.", param="unit_amount") from None
        recurring = p.get("recurring") or {}
        return self._add(
            {
                "id": new_id("price"),
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": self.now(),
                "currency": p.get("currency", "usd"),
                "lookup_key": key,
                "metadata": p.get("metadata") or {},
                "nickname": p.get("nickname"),
                "product": product["id"],
                "recurring": {
                    "interval": recurring.get("interval", "month"),
                    "interval_count": int(recurring.get("interval_count", 1)),
                    "usage_type": "licensed",
                }
                if recurring
                else None,
                "type": "recurring" if recurring else "one_time",
                "unit_amount": amount,
                "unit_amount_decimal": str(amount),
                "livemode": False,
            }
        )

    # --- customers and cards ----------------------------------------------------------------------

    def create_customer(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._add(
            {
                "id": new_id("cus"),
                "object": "customer",
                "created": self.now(),
                "email": p.get("email"),
                "name": p.get("name"),
                "metadata": p.get("metadata") or {},
                "invoice_settings": {"default_payment_method": None},
                "livemode": False,
            }
        )

    def attach_card(self, customer: dict[str, Any], number: str) -> dict[str, Any]:
        if number not in (CARD_PAYS, CARD_ATTACHES_THEN_FAILS):
            raise StripeError(402, "Your card was declined.", type="card_error", code="card_declined")
        pm = self._add(
            {
                "id": new_id("pm"),
                "object": "payment_method",
                "type": "card",
                "card": {"brand": "visa", "last4": number[-4:], "exp_month": 12, "exp_year": 2034},
                "customer": customer["id"],
                "created": self.now(),
                "livemode": False,
                # Not Stripe's: whether charges on this card succeed (its test card 0341 fails them).
                "_fails": number == CARD_ATTACHES_THEN_FAILS,
            }
        )
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
        return pm

    # --- sessions -------------------------------------------------------------------------------

    def create_checkout_session(self, p: dict[str, Any], base_url: str) -> dict[str, Any]:
        if p.get("mode") != "subscription":
            raise StripeError(400, "This sandbox supports mode=subscription only.", param="mode")
        items = p.get("line_items") or []
        if not items:
            raise StripeError(
                400, "Missing required param: line_items.", code="parameter_missing", param="line_items"
            )
        for i, item in enumerate(items):
            self.get("price", item.get("price", ""))
            if "price" not in item:
                raise StripeError(400, "Missing required param: price.", param=f"line_items[{i}][price]")
        if p.get("customer"):
            self.get("customer", p["customer"])
        if not p.get("success_url"):
            raise StripeError(400, "Missing required param: success_url.", param="success_url")
        sid = "cs_test_" + secrets.token_hex(20)
        sub_data = p.get("subscription_data") or {}
        return self._add(
            {
                "id": sid,
                "object": "checkout.session",
                "mode": "subscription",
                "status": "open",
                "payment_status": "unpaid",
                "client_reference_id": p.get("client_reference_id"),
                "customer": p.get("customer"),
                "customer_email": p.get("customer_email"),
                "created": self.now(),
                "expires_at": self.now() + 86_400,
                "metadata": p.get("metadata") or {},
                "success_url": p["success_url"],
                "cancel_url": p.get("cancel_url"),
                "subscription": None,
                "invoice": None,
                "url": f"{base_url}/pay/{sid}",
                "livemode": False,
                "_line_items": [{"price": i["price"], "quantity": int(i.get("quantity", 1))} for i in items],
                "_subscription_data": sub_data,
            }
        )

    def create_portal_session(self, p: dict[str, Any], base_url: str) -> dict[str, Any]:
        customer = self.get("customer", p.get("customer", ""))
        bps = new_id("bps")
        return self._add(
            {
                "id": bps,
                "object": "billing_portal.session",
                "created": self.now(),
                "customer": customer["id"],
                "return_url": p.get("return_url"),
                "url": f"{base_url}/portal/{bps}",
                "livemode": False,
            }
        )

    def pay_checkout(self, session: dict[str, Any], card: str) -> dict[str, Any]:
        """The customer submits the hosted page with a card: the subscription starts."""
        if session["status"] != "open":
            raise StripeError(
                400, "This Checkout Session is no longer active.", code="checkout_session_inactive"
            )
        customer = (
            self.get("customer", session["customer"])
            if session["customer"]
            else self.create_customer({"email": session.get("customer_email")})
        )
        trial_days = int(session["_subscription_data"].get("trial_period_days") or 0)
        trial_end = session["_subscription_data"].get("trial_end")
        pm = self.attach_card(customer, card)
        if not trial_days and not trial_end and pm["_fails"]:
            raise StripeError(402, "Your card was declined.", type="card_error", code="card_declined")
        now = self.now()
        end_of_trial = int(trial_end) if trial_end else (now + trial_days * 86_400 if trial_days else None)
        sub = self._new_subscription(customer, session["_line_items"], end_of_trial, session["metadata"])
        session.update(
            status="complete",
            customer=customer["id"],
            subscription=sub["id"],
            payment_status="no_payment_required" if end_of_trial else "paid",
        )
        self.emit("customer.subscription.created", sub)
        invoice = self._invoice(sub, 0 if end_of_trial else self._amount(sub), "subscription_create")
        session["invoice"] = invoice["id"]
        self.emit("invoice.paid", invoice)
        self.emit("checkout.session.completed", self.public(session))
        return session

    # --- subscriptions ------------------------------------------------------------------------------

    def _new_subscription(
        self,
        customer: dict[str, Any],
        items: list[dict[str, Any]],
        trial_end: int | None,
        metadata: dict[str, Any],
    ) -> dict[str, Any]:
        now = self.now()
        period_end = trial_end or now + MONTH
        sid = new_id("sub")
        return self._add(
            {
                "id": sid,
                "object": "subscription",
                "status": "trialing" if trial_end else "active",
                "customer": customer["id"],
                "created": now,
                "start_date": now,
                "billing_cycle_anchor": period_end,
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "ended_at": None,
                "collection_method": "charge_automatically",
                "currency": "usd",
                "default_payment_method": customer["invoice_settings"]["default_payment_method"],
                "latest_invoice": None,
                "metadata": dict(metadata),
                "trial_start": now if trial_end else None,
                "trial_end": trial_end,
                "trial_settings": {"end_behavior": {"missing_payment_method": "pause"}},
                "pause_collection": None,
                "livemode": False,
                "items": {
                    "object": "list",
                    "data": [self._item(sid, i["price"], i["quantity"], now, period_end) for i in items],
                    "has_more": False,
                    "url": f"/v1/subscription_items?subscription={sid}",
                },
                "_will_end_sent": False,
            }
        )

    def _item(self, sub_id: str, price_id: str, quantity: int, start: int, end: int) -> dict[str, Any]:
        return {
            "id": new_id("si"),
            "object": "subscription_item",
            "created": self.now(),
            "current_period_start": start,
            "current_period_end": end,
            "metadata": {},
            "price": copy.deepcopy(self.get("price", price_id)),
            "quantity": quantity,
            "subscription": sub_id,
        }

    def _amount(self, sub: dict[str, Any]) -> int:
        return sum(i["price"]["unit_amount"] * i["quantity"] for i in sub["items"]["data"])

    def _period(self, sub: dict[str, Any]) -> tuple[int, int]:
        item = sub["items"]["data"][0]
        return item["current_period_start"], item["current_period_end"]

    def _invoice(self, sub: dict[str, Any], amount: int, reason: str) -> dict[str, Any]:
        start, end = self._period(sub)
        invoice = self._add(
            {
                "id": new_id("in"),
                "object": "invoice",
                "customer": sub["customer"],
                "subscription": sub["id"],
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": sub["id"]},
                },
                "billing_reason": reason,
                "created": self.now(),
                "currency": "usd",
                "amount_due": amount,
                "amount_paid": amount,
                "amount_remaining": 0,
                "attempt_count": 1,
                "attempted": True,
                "status": "paid",
                "period_start": start,
                "period_end": end,
                "total": amount,
                "subtotal": amount,
                "livemode": False,
                "lines": {"object": "list", "data": [], "has_more": False},
            }
        )
        sub["latest_invoice"] = invoice["id"]
        return invoice

    def _charge(self, sub: dict[str, Any], amount: int, reason: str) -> bool:
        """Invoice and charge the default card; the events say how it went."""
        pm_id = sub.get("default_payment_method")
        invoice = self._invoice(sub, amount, reason)
        fails = pm_id is None or self.objects[pm_id]["_fails"]
        if fails:
            invoice.update(status="open", amount_paid=0, amount_remaining=amount)
            self.emit("invoice.payment_failed", invoice)
            return False
        self.emit("invoice.paid", invoice)
        return True

    def _set(self, sub: dict[str, Any], **changes: Any) -> None:
        previous = {k: sub[k] for k in changes if k in sub and sub[k] != changes[k]}
        sub.update(changes)
        self.emit("customer.subscription.updated", sub, previous)

    def _roll_period(self, sub: dict[str, Any], start: int) -> None:
        for item in sub["items"]["data"]:
            item["current_period_start"], item["current_period_end"] = start, start + MONTH

    def update_subscription(self, sub: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        previous: dict[str, Any] = {}
        if sub["status"] == "canceled":
            raise StripeError(
                400, "A canceled subscription can only update its cancellation_details and metadata."
            )
        if "cancel_at_period_end" in p:
            value = str(p["cancel_at_period_end"]).lower() == "true"
            if value != sub["cancel_at_period_end"]:
                previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
                sub["cancel_at_period_end"] = value
                sub["cancel_at"] = self._period(sub)[1] if value else None
        if "metadata" in p and isinstance(p["metadata"], dict):
            previous["metadata"] = dict(sub["metadata"])
            sub["metadata"].update(p["metadata"])
        if p.get("default_payment_method"):
            self.get("payment_method", p["default_payment_method"])
            sub["default_payment_method"] = p["default_payment_method"]
        items = p.get("items") or []
        charge = 0
        for i, change in enumerate(items):
            item = next((x for x in sub["items"]["data"] if x["id"] == change.get("id")), None)
            if item is None:
                raise missing("subscription item", str(change.get("id")), f"items[{i}][id]")
            new_price = self.get("price", change.get("price", ""))
            old_amount = item["price"]["unit_amount"]
            previous.setdefault("items", copy.deepcopy(sub["items"]))
            item["price"] = copy.deepcopy(new_price)
            start, end = item["current_period_start"], item["current_period_end"]
            left = max(0.0, (end - self.now()) / max(1, end - start))
            # Proration: the unused part of the old price back, the rest of the period at the new one.
            charge += round((new_price["unit_amount"] - old_amount) * left)
        behaviour = p.get("proration_behavior", "create_prorations")
        if previous:
            self.emit("customer.subscription.updated", sub, previous)
        charge_now = items and behaviour == "always_invoice" and charge > 0 and sub["status"] == "active"
        if charge_now and not self._charge(sub, charge, "subscription_update"):
            self._set(sub, status="past_due")
        return sub

    def cancel_now(self, sub: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] != "canceled":
            now = self.now()
            sub.update(status="canceled", canceled_at=now, ended_at=now)
            self.emit("customer.subscription.deleted", sub)
        return sub

    # --- the clock ------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> list[str]:
        """Move the clock; trials end, periods renew or end, failed payments turn into unpaid."""
        self.offset += seconds
        before = len(self.events)
        for sub in sorted(self.of_kind("subscription"), key=lambda s: s["created"]):
            self._catch_up(sub)
        return [e["id"] for e in self.events[before:]]

    def _catch_up(self, sub: dict[str, Any]) -> None:
        for _ in range(48):  # at most four years of renewals per advance
            now = self.now()
            status = sub["status"]
            _, end = self._period(sub)
            if (
                status == "trialing"
                and not sub["_will_end_sent"]
                and sub["trial_end"] - now <= TRIAL_WILL_END_BEFORE
            ):
                sub["_will_end_sent"] = True
                self.emit("customer.subscription.trial_will_end", sub)
            if status in ("canceled", "paused", "unpaid") or end > now:
                return
            if sub["cancel_at_period_end"]:
                sub.update(status="canceled", canceled_at=end, ended_at=end)
                self.emit("customer.subscription.deleted", sub)
                return
            if status == "trialing" and sub.get("default_payment_method") is None:
                self._set(sub, status="paused", pause_collection=None)
                self.emit("customer.subscription.paused", sub)
                return
            if status == "past_due":
                # Smart Retries give up after the period: the subscription goes unpaid.
                self._set(sub, status="unpaid")
                return
            self._roll_period(sub, end)
            if self._charge(sub, self._amount(sub), "subscription_cycle"):
                self._set(sub, status="active")
            else:
                self._set(sub, status="past_due")

    # --- wire form ------------------------------------------------------------------------------------

    @staticmethod
    def public(obj: dict[str, Any]) -> dict[str, Any]:
        """The object as Stripe shows it: the sandbox's own bookkeeping (`_…`) left out."""
        return {k: v for k, v in obj.items() if not k.startswith("_")}

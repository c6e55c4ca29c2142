"""The Stripe stand-in driven by stripe-python: the catalogue, Stripe's errors and idempotency,
checkout with Stripe's test cards, the clock, and webhook delivery signed as `stripe listen` signs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from resources.stripe_billing import StripeBilling
from sandbox.server import SandboxServer


class Receiver:
    """A webhook endpoint on loopback that checks each event's signature with stripe-python."""

    def __init__(self, secret: str = "", fail_first: int = 0) -> None:
        self.secret, self.fail_left = secret, fail_first
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 200
                if receiver.fail_left > 0:
                    receiver.fail_left -= 1
                    status = 500
                else:
                    try:
                        event = stripe.Webhook.construct_event(
                            body, self.headers["Stripe-Signature"], receiver.secret
                        )
                        receiver.events.append(event.to_dict())
                    except stripe.SignatureVerificationError:
                        receiver.rejected += 1
                        status = 400
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.events


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


@pytest.fixture
def sandbox(receiver: Receiver) -> Iterator[SandboxServer]:
    with SandboxServer(time_scale=100.0, stripe_forward_to=receiver.url) as server:
        receiver.secret = server.stripe.webhook_secret
        yield server


@pytest.fixture
def billing(sandbox: SandboxServer) -> StripeBilling:
    billing = StripeBilling(api_url=sandbox.urls["stripe"], secret_key="sk_test_sandbox")
    billing.setup_catalogue()
    return billing


def _checkout(billing: StripeBilling, card: str, trial_days: int = 0, tier: str = "pro") -> str:
    customer = billing.create_customer("shop-1", "Shop", "owner@example.com")
    url = billing.checkout_url(
        tenant_id="shop-1", customer_id=customer, tier=tier, trial_days=trial_days, public_url="http://app"
    )
    paid = requests.post(url, data={"card": card}, allow_redirects=False, timeout=10)
    assert paid.status_code == 303, paid.text
    assert paid.headers["Location"].startswith("http://app/billing/success?session_id=cs_test_")
    return customer


def test_setup_twice_creates_nothing_new(billing: StripeBilling, sandbox: SandboxServer) -> None:
    prices = billing.prices_by_tier()
    assert {t: p.unit_amount for t, p in prices.items()} == {"starter": 990, "pro": 2990, "enterprise": 9990}
    assert all(p.recurring.interval == "month" and p.currency == "usd" for p in prices.values())
    again = billing.setup_catalogue()
    assert not any(e.created for e in again)
    assert len(billing.client.v1.prices.list(params={"limit": 100}).data) == 3


def test_stripe_errors_and_idempotent_replay(billing: StripeBilling, sandbox: SandboxServer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        billing.client.v1.customers.retrieve("cus_nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    bad_key = stripe.StripeClient("sk_live_wrong", base_addresses={"api": sandbox.urls["stripe"]})
    with pytest.raises(stripe.AuthenticationError):
        bad_key.v1.customers.list()

    first = billing.client.v1.customers.create(
        params={"email": "a@example.com"}, options={"idempotency_key": "k1"}
    )
    replay = billing.client.v1.customers.create(
        params={"email": "a@example.com"}, options={"idempotency_key": "k1"}
    )
    assert replay.id == first.id
    assert len(billing.client.v1.customers.list(params={"limit": 100}).data) == 1
    with pytest.raises(stripe.IdempotencyError):
        billing.client.v1.customers.create(
            params={"email": "b@example.com"}, options={"idempotency_key": "k1"}
        )


def test_paid_checkout_delivers_signed_events(billing: StripeBilling, receiver: Receiver) -> None:
    customer = _checkout(billing, "4242424242424242")
    events = receiver.wait_for(3)
    assert [e["type"] for e in events] == [
        "customer.subscription.created",
        "invoice.paid",
        "checkout.session.completed",
    ]
    session = events[2]["data"]["object"]
    assert session["client_reference_id"] == "shop-1" and session["customer"] == customer
    sub = billing.subscription(session["subscription"])
    assert sub.status == "active" and sub["items"]["data"][0]["price"]["lookup_key"] == "pro_monthly"
    assert receiver.rejected == 0


def test_declined_card_at_checkout_starts_nothing(billing: StripeBilling, sandbox: SandboxServer) -> None:
    customer = billing.create_customer("shop-1", "Shop", "owner@example.com")
    url = billing.checkout_url(
        tenant_id="shop-1", customer_id=customer, tier="pro", trial_days=0, public_url="http://app"
    )
    declined = requests.post(url, data={"card": "4000000000000341"}, allow_redirects=False, timeout=10)
    assert declined.status_code == 402 and "declined" in declined.text
    assert billing.client.v1.subscriptions.list(params={"customer": customer}).data == []


def test_trial_end_charges_or_fails_the_card(
    billing: StripeBilling, sandbox: SandboxServer, receiver: Receiver
) -> None:
    _checkout(billing, "4000000000000341", trial_days=14)
    receiver.wait_for(3)
    advanced = requests.post(sandbox.control_url + "/stripe/advance", json={"days": 15}, timeout=10).json()
    types = [e["type"] for e in receiver.wait_for(3 + len(advanced["events"]))[3:]]
    assert types == [
        "customer.subscription.trial_will_end",
        "invoice.payment_failed",
        "customer.subscription.updated",
    ]
    assert receiver.events[-1]["data"]["object"]["status"] == "past_due"


def test_failed_deliveries_are_retried_and_events_replayed_out_of_order(
    billing: StripeBilling, sandbox: SandboxServer, receiver: Receiver
) -> None:
    receiver.fail_left = 2
    _checkout(billing, "4242424242424242")
    events = receiver.wait_for(3)
    assert len(events) == 3  # the first event got through on its third attempt
    ids = [e["id"] for e in events]
    requests.post(
        sandbox.control_url + "/stripe/deliver", json={"events": ids[::-1], "times": 2}, timeout=10
    ).raise_for_status()
    replayed = receiver.wait_for(9)[3:]
    assert [e["id"] for e in replayed] == ids[::-1] * 2
    state = requests.get(sandbox.control_url + "/stripe", timeout=10).json()
    assert state["deliveries"][0]["attempts"] == 3


def test_portal_and_cancel_at_period_end(
    billing: StripeBilling, sandbox: SandboxServer, receiver: Receiver
) -> None:
    customer = _checkout(billing, "4242424242424242")
    sub = billing.client.v1.subscriptions.list(params={"customer": customer}).data[0]
    portal = billing.portal_url(customer, "http://app")
    assert requests.get(portal, timeout=10).status_code == 200
    assert billing.cancel_at_period_end(sub.id).cancel_at_period_end is True
    requests.post(sandbox.control_url + "/stripe/advance", json={"days": 31}, timeout=10).raise_for_status()
    assert billing.subscription(sub.id).status == "canceled"


def test_billing_setup_command_twice_creates_nothing_new(sandbox: SandboxServer, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "STOCK_TRACKER_HOME": str(tmp_path),
        "STOCK_TRACKER_STRIPE_API_URL": sandbox.urls["stripe"],
        "STOCK_TRACKER_STRIPE_SECRET_KEY": "sk_test_cli",
    }
    command = [str(Path(sys.executable).parent / "stock-tracker"), "billing", "setup"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    lines = first.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["starter_monthly", "pro_monthly", "enterprise_monthly"]
    assert all(line.endswith("created") for line in lines) and "$29.90/month" in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert all(line.endswith("exists") for line in second.stdout.splitlines())
    assert len(sandbox.stripe.of_kind("price")) == 3 and len(sandbox.stripe.of_kind("product")) == 3
    unset = {k: v for k, v in env.items() if k != "STOCK_TRACKER_STRIPE_SECRET_KEY"}
    refused = subprocess.run(command, env=unset, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "STOCK_TRACKER_STRIPE_SECRET_KEY" in refused.stderr

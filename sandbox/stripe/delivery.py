"""Webhook delivery as `stripe listen --forward-to URL` does it: every event POSTed to one URL,
signed with `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.payload">`, retried with backoff
while the receiver fails (Stripe retries for days; here the backoff runs on the sandbox's time scale)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import aiohttp
import orjson

from sandbox.stripe.model import StripeSandbox

ATTEMPTS = 8
FIRST_BACKOFF_SECONDS = 1.0


def sign(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


async def deliver_forever(stripe: StripeSandbox, time_scale: float) -> None:
    """Drain the outbox in order; each event is retried before the next one goes (as `stripe listen`)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        while True:
            if not stripe.outbox or not stripe.forward_to:
                await asyncio.sleep(0.02)
                continue
            event = stripe.outbox.pop(0)
            await _deliver(http, stripe, event, time_scale)


async def _deliver(
    http: aiohttp.ClientSession, stripe: StripeSandbox, event: dict[str, Any], scale: float
) -> None:
    payload = orjson.dumps(event)
    record: dict[str, Any] = {"event": event["id"], "type": event["type"], "attempts": 0, "status": None}
    stripe.deliveries.append(record)
    backoff = FIRST_BACKOFF_SECONDS
    for _ in range(ATTEMPTS):
        record["attempts"] += 1
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(stripe.webhook_secret, payload),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            async with http.post(str(stripe.forward_to), data=payload, headers=headers) as response:
                record["status"] = response.status
                if 200 <= response.status < 300:
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            record["status"] = type(exc).__name__
        await asyncio.sleep(backoff / scale)
        backoff *= 2

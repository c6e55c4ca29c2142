"""Outgoing webhooks (Pro and up, DESIGN §6a): a tenant's endpoints, the events queued for them,
and each delivery's attempts. Sending is Dagster's (assets/webhooks.py), never an API request's.

An event is queued in the same transaction as what it reports (a finished sync), once per endpoint
(the event id is unique per endpoint). A failed attempt is retried with exponential backoff for
24 hours; an endpoint that keeps failing is disabled and says why.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from warehouse.models import SyncRun, WebhookDelivery, WebhookEndpoint, utcnow

EVENT_TYPES = ("sync.completed", "sync.failed", "stock.low")
TEST_EVENT = "webhook.test"
FIRST_RETRY = timedelta(seconds=30)
RETRY_FOR = timedelta(hours=24)
# Consecutive failed attempts (across its deliveries) after which an endpoint is disabled.
DISABLE_AFTER = 15


class WebhookUrlRefused(ValueError):
    """The URL may not receive webhooks (the reason is safe to show)."""


def check_url(url: str, *, production: bool) -> str:
    """https only in production; never a private, loopback or link-local target there."""
    if any(ord(c) < 32 or c.isspace() for c in url):
        raise WebhookUrlRefused("the URL may not hold spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port out of range raises here, not at send time
    except ValueError:
        raise WebhookUrlRefused("an absolute http(s) URL is required") from None
    if parts.scheme not in ("https", "http") or not host:
        raise WebhookUrlRefused("an absolute http(s) URL is required")
    if production and parts.scheme != "https":
        raise WebhookUrlRefused("only https URLs are allowed")
    if not production:
        return url
    for address in _addresses(host):
        if not address.is_global or address.is_multicast:
            raise WebhookUrlRefused("private, loopback and link-local addresses are not allowed")
    return url


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        raise WebhookUrlRefused("the host name does not resolve") from None
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def safe_target(url: str, *, production: bool) -> bool:
    """Checked again at delivery: a name may resolve elsewhere since it was added (DNS rebinding)."""
    try:
        check_url(url, production=production)
    except WebhookUrlRefused:
        return False
    return True


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# --- endpoints -------------------------------------------------------------------------------------


def endpoints(session: Session, tenant_id: str) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id).order_by(WebhookEndpoint.id)
        )
    )


def endpoint(session: Session, tenant_id: str, endpoint_id: int) -> WebhookEndpoint | None:
    found = session.get(WebhookEndpoint, endpoint_id)
    return found if found is not None and found.tenant_id == tenant_id else None


def deliveries(session: Session, endpoint_id: int, limit: int = 50) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


# --- events ------------------------------------------------------------------------------------------


def event_body(event_id: str, type_: str, tenant_id: str, data: dict[str, Any], created: datetime) -> str:
    return orjson.dumps(
        {
            "id": event_id,
            "type": type_,
            "created": int(created.timestamp()),
            "tenant": tenant_id,
            "data": data,
        }
    ).decode()


def enqueue(
    session: Session,
    tenant_id: str,
    type_: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    only: WebhookEndpoint | None = None,
) -> int:
    """Queue the event for every enabled endpoint of the tenant that wants it; no commit (the
    caller's transaction also holds what the event reports)."""
    event_id = event_id or f"evt_{uuid.uuid4().hex}"
    now = utcnow()
    body = event_body(event_id, type_, tenant_id, data, now)
    targets = [only] if only is not None else endpoints(session, tenant_id)
    queued = 0
    for target in targets:
        if not target.enabled or (type_ != TEST_EVENT and type_ not in target.events):
            continue
        seen = session.scalar(
            select(WebhookDelivery.id).where(
                WebhookDelivery.endpoint_id == target.id, WebhookDelivery.event_id == event_id
            )
        )
        if seen is not None:
            continue
        session.add(
            WebhookDelivery(
                endpoint_id=target.id,
                tenant_id=tenant_id,
                event_id=event_id,
                event_type=type_,
                body=body,
                next_attempt_at=now,
            )
        )
        queued += 1
    return queued


def enqueue_sync_outcome(session: Session, run: SyncRun) -> None:
    """A finished sync's event for the tenant's endpoints (`sync.completed` or `sync.failed`)."""
    if not session.scalar(
        select(WebhookEndpoint.id).where(WebhookEndpoint.tenant_id == run.tenant_id).limit(1)
    ):
        return
    type_ = "sync.completed" if run.status == "success" else "sync.failed"
    data: dict[str, Any] = {
        "run_id": run.run_id,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    if run.status != "success":
        data["error"] = run.error
    enqueue(session, run.tenant_id, type_, data, event_id=f"evt_{type_.replace('.', '_')}_{run.run_id}")


# --- delivery ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueDelivery:
    id: int
    endpoint_id: int
    url: str
    secret_token: str
    body: str


def due(session: Session, now: datetime | None = None, limit: int = 100) -> list[DueDelivery]:
    now = now or utcnow()
    rows = session.execute(
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    return [DueDelivery(d.id, e.id, e.url, e.secret, d.body) for d, e in rows]


def record_attempt(
    session: Session,
    delivery_id: int,
    *,
    ok: bool,
    status_code: int | None,
    error: str | None,
    now: datetime | None = None,
) -> WebhookDelivery:
    """One attempt's outcome: delivered; or retried later (30 s, 1 min, 2 min, … for 24 h);
    or failed for good, and the endpoint disabled once it fails again and again."""
    now = now or utcnow()
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
    assert delivery is not None
    target = session.get(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
    assert target is not None
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_error = status_code, error
    if ok:
        delivery.status, delivery.delivered_at = "delivered", now
        target.consecutive_failures = 0
    else:
        target.consecutive_failures += 1
        wait = FIRST_RETRY * (2 ** (delivery.attempts - 1))
        if now + wait - delivery.created_at > RETRY_FOR:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = now + wait
        if target.consecutive_failures >= DISABLE_AFTER:
            target.enabled = False
            target.disabled_reason = (
                f"{target.consecutive_failures} failed attempts in a row; last: {error or status_code}"
            )
    session.commit()
    return delivery


LOW_STOCK_LISTED = 50


def enqueue_low_stock(
    session: Session, tenant_id: str, run_id: str, low: list[dict[str, Any]], threshold_days: int
) -> int:
    """`stock.low` for this sync: products × warehouses whose days of cover fell below the threshold
    (the most urgent first, at most 50 listed). Commits."""
    if not low:
        return 0
    urgent = sorted(low, key=lambda r: (r["days_of_cover"], r["article"] or ""))[:LOW_STOCK_LISTED]
    data = {"run_id": run_id, "threshold_days": threshold_days, "count": len(low), "items": urgent}
    queued = enqueue(session, tenant_id, "stock.low", data, event_id=f"evt_stock_low_{run_id}")
    session.commit()
    return queued

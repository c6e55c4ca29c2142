"""The signed-in principal of the hot read routes, looked up at most every few seconds.

`CurrentUser` (api/deps.py) asks the app database on every request whether the token's sign-in is
live, reads the subscription and counts the call: three statements and a thread hop, which cost
most of `GET /api/v1/products/` (bench/bench_api.py). `CachedReader` answers from a short-lived
copy instead:

* Revocation: the cached answer is the same positive fact (a live, unexpired refresh token of
  this user in this family, the user and tenant present and active), and it is kept for at most
  `Settings.principal_cache_seconds` (≤ 5 s). A sign-in revoked by another process (another
  replica, the CLI) stops working on these routes within that bound; any write through this
  process (a logout, a role or plan change, a removed user) empties the cache at once
  (`ForgetPrincipalsOnWrite`). Only positive answers are cached: a refused token is asked again.
* Quota: the tenant's calls are counted in memory and added to the app database (or Redis) in one
  statement when the principal is looked up again, so the monthly count is at most one cache
  period behind; the limit is enforced on the running total.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api import quota
from api.deps import BEARER_CHALLENGE, BearerToken, access_claims
from api.errors import ApiError
from api.models import MeOut
from api.rate_limit import RateLimits
from api.security import TokenClaims
from api.views import me_view
from settings import Settings
from warehouse import users
from warehouse.billing import sync_gate
from warehouse.tenant_scope import tenant_session

log = logging.getLogger("stock_tracker.api")

MAX_SECONDS = 5.0  # the documented bound on how long a revoked sign-in keeps reading


@dataclass(frozen=True)
class TenantView:
    id: str
    tier: str
    status: str
    locale: str
    low_stock_days: int
    orders_window_days: int


@dataclass(frozen=True)
class UserView:
    id: int
    role: str


@dataclass(frozen=True)
class ReaderPrincipal:
    """What a read route needs of the signed-in user: a detached copy, safe to share."""

    user: UserView
    tenant: TenantView
    family_id: str
    read_only: bool
    # `GET /auth/me`'s answer, built once per lookup: the route then needs no query of its own.
    # Shared between requests, so never modified.
    me: MeOut

    @property
    def tenant_id(self) -> str:
        return self.tenant.id


@dataclass
class _Tally:
    """A tenant's API calls this month: `base` as last stored, `pending` counted since."""

    period: str
    base: int = 0
    pending: int = 0


@dataclass
class _Entry:
    principal: ReaderPrincipal
    expires_at: float


@dataclass
class PrincipalCache:
    seconds: float
    _entries: dict[tuple[str, int, str], _Entry] = field(default_factory=dict)
    _tallies: dict[str, _Tally] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: dict[tuple[str, int, str], asyncio.Future[tuple[ReaderPrincipal, int]]] = field(
        default_factory=dict
    )

    def get(self, claims: TokenClaims, now: float) -> ReaderPrincipal | None:
        entry = self._entries.get((claims.tenant_id, claims.user_id, claims.family_id))
        if entry is None or entry.expires_at <= now:
            return None
        return entry.principal

    def put(self, claims: TokenClaims, principal: ReaderPrincipal, now: float) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) > 10_000:  # stale sign-ins of a long-running process
                self._entries = {k: e for k, e in self._entries.items() if e.expires_at > now}
            self._entries[(claims.tenant_id, claims.user_id, claims.family_id)] = _Entry(
                principal, now + self.seconds
            )

    def clear(self, tenant_id: str | None = None) -> None:
        """Forget the cached sign-ins of `tenant_id`, or of everyone."""
        with self._lock:
            if tenant_id is None:
                self._entries.clear()
            else:
                self._entries = {k: e for k, e in self._entries.items() if k[0] != tenant_id}

    # --- quota ------------------------------------------------------------------------------

    def count_cached(self, tenant_id: str, period: str) -> int | None:
        """One more call on a cached principal: the month's running total (None: no tally)."""
        with self._lock:
            tally = self._tallies.get(tenant_id)
            if tally is None or tally.period != period:
                return None
            tally.pending += 1
            return tally.base + tally.pending

    def take_pending(self, tenant_id: str, period: str) -> int:
        with self._lock:
            tally = self._tallies.get(tenant_id)
            if tally is None or tally.period != period:
                return 0
            pending, tally.pending = tally.pending, 0
            return pending

    def stored(self, tenant_id: str, period: str, total: int) -> None:
        with self._lock:
            tally = self._tallies.setdefault(tenant_id, _Tally(period))
            if tally.period != period:
                tally.period, tally.pending = period, 0
            tally.base = total - tally.pending  # calls counted meanwhile stay pending

    def flush(self, counter: quota.ApiQuota, settings: Settings) -> None:
        """Store every pending call (at shutdown)."""
        with self._lock:
            pending = [(t, x.period, x.pending) for t, x in self._tallies.items() if x.pending]
            for tally in self._tallies.values():
                tally.pending = 0
        for tenant_id, period, calls in pending:
            try:
                with tenant_session(settings.app_database_url, tenant_id) as session:
                    counter.add(session, tenant_id, period, calls)
            except Exception as exc:  # shutting down: a few seconds of calls lost, never a crash
                log.warning("could not store %d API calls at shutdown: %s", calls, type(exc).__name__)


def cache_for(settings: Settings) -> PrincipalCache:
    return PrincipalCache(min(MAX_SECONDS, max(0.0, settings.principal_cache_seconds)))


def _look_up(
    request: Request, settings: Settings, claims: TokenClaims, period: str
) -> tuple[ReaderPrincipal, int]:
    """The database's answer (in a pool thread): the live sign-in, and the month's calls with this one."""
    cache: PrincipalCache = request.app.state.principals
    with tenant_session(settings.app_database_url, claims.tenant_id) as session:
        found = users.signed_in(session, claims.tenant_id, claims.user_id, claims.family_id)
        if found is None or found[1].status == "deleted":
            raise ApiError(401, "invalid_token", headers=BEARER_CHALLENGE)
        user, tenant, revoked, subscription = found
        if revoked:
            raise ApiError(401, "session_revoked", headers=BEARER_CHALLENGE)
        read_only = sync_gate(subscription).read_only
        calls = cache.take_pending(tenant.id, period) + 1
        total = request.app.state.quota.add(session, tenant.id, period, calls)
    cache.stored(tenant.id, period, total)
    principal = ReaderPrincipal(
        UserView(user.id, user.role),
        TenantView(
            tenant.id,
            tenant.tier,
            tenant.status,
            tenant.locale,
            tenant.low_stock_days,
            tenant.orders_window_days,
        ),
        claims.family_id,
        read_only,
        me_view(user, tenant, subscription),
    )
    return principal, total


async def cached_reader(request: Request, token: BearerToken) -> ReaderPrincipal:
    """`CurrentUser` for read-only routes, answered from the cache on the event loop. One
    dependency (reading the app's state itself): each one more costs FastAPI's resolution."""
    settings: Settings = request.app.state.settings
    limits: RateLimits = request.app.state.limits
    claims = access_claims(settings, token)
    if settings.redis_url:
        await run_in_threadpool(limits.hit, limits.tenant, "tenant", claims.tenant_id)
    else:
        limits.hit(limits.tenant, "tenant", claims.tenant_id)  # in memory: no I/O
    cache: PrincipalCache = request.app.state.principals
    now_utc = datetime.now(UTC)
    period, _ = quota.period_of(now_utc)
    principal = cache.get(claims, time.monotonic())
    used = cache.count_cached(principal.tenant_id, period) if principal is not None else None
    if principal is None or used is None:
        key = (claims.tenant_id, claims.user_id, claims.family_id)
        pending = cache.in_flight.get(key)
        if pending is None:
            # One lookup per sign-in at a time: the requests arriving while it runs wait for its
            # answer rather than each sending their own (32 upserts queued on SQLite's write lock
            # every time the entry expired: the list's worst latencies).
            pending = cache.in_flight[key] = asyncio.ensure_future(
                run_in_threadpool(_look_up, request, settings, claims, period)
            )
            pending.add_done_callback(lambda _: cache.in_flight.pop(key, None))
            principal, used = await asyncio.shield(pending)  # a client gone must not cancel it
            cache.put(claims, principal, time.monotonic())
        else:
            principal, _ = await asyncio.shield(pending)
            used = cache.count_cached(principal.tenant_id, period)
            if used is None:  # the month turned meanwhile
                principal, used = await run_in_threadpool(_look_up, request, settings, claims, period)
    tenant = principal.tenant
    state = request.scope.setdefault("state", {})
    state.update(locale=tenant.locale, tenant_id=tenant.id, tier=tenant.tier, user_id=principal.user.id)
    if tenant.status != "active":
        raise ApiError(403, "tenant_inactive")
    quota.check(request, tenant.tier, used, now_utc)
    return principal


CachedReader = Annotated[ReaderPrincipal, Depends(cached_reader)]


class ForgetPrincipalsOnWrite:
    """Any write through this process may change who may read (a logout, a role, a plan, the
    tenant's settings): the cached principals are dropped once it has answered. A write by a
    signed-in user changes only their own tenant, so only that tenant's are dropped (emptying the
    whole cache on every write made each read of a busy server a database lookup again:
    bench/bench_load.py); a write with no signed-in user (a logout by refresh token, a sign-in,
    a webhook) may concern anyone, and drops them all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http" and scope.get("method") not in quota.READ_METHODS:
                principals = getattr(scope["app"].state, "principals", None)
                if principals is not None:
                    principals.clear((scope.get("state") or {}).get("tenant_id"))

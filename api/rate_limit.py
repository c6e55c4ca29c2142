"""Rate limits with the `limits` library: per client IP on /auth/*, per tenant everywhere else.

Counters live in Redis when `redis_url` is set (shared by every API replica), else in this
process. Per tenant a sliding-window counter: O(1) per hit, and no burst of twice the limit at a
window edge. The sign-in routes and the account lock-out count exactly (a moving window): they see
few requests, and the counter's estimate would let a guess through at a window's edge.
If Redis is down the request goes through (logged): an outage of the limiter must not take the
API down with it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from typing import NoReturn

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from api.errors import ApiError
from settings import Settings

log = logging.getLogger("stock_tracker.api")

Limiter = MovingWindowRateLimiter | SlidingWindowCounterRateLimiter


class LocalSlidingWindow:
    """The sliding-window counter of `limits`, for one process without Redis: the same estimate
    (the previous window's count weighted by its overlap, plus this window's), kept in a dict.
    `limits`' memory storage starts a timer thread every few milliseconds to expire keys, which
    cost a sixth of the product list's time under load (bench/bench_api.py)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, ...], tuple[int, int, int]] = {}  # key → (window, prev, cur)
        self._lock = threading.Lock()

    def hit(self, limit: RateLimitItem, *identifiers: str) -> tuple[bool, float]:
        """(allowed, seconds until one more would be) for one more request."""
        expiry = limit.get_expiry()
        now = time.time()
        window = int(now // expiry)
        key = (limit.key_for(*identifiers),)
        with self._lock:
            if len(self._windows) > 100_000:  # forget keys idle for two windows
                self._windows = {k: v for k, v in self._windows.items() if v[0] >= window - 1}
            start, previous, current = self._windows.get(key, (window, 0, 0))
            if start != window:
                previous, current = (current if start == window - 1 else 0), 0
            weight = 1 - (now / expiry - window)
            if math.floor(previous * weight + current) + 1 > limit.amount:
                self._windows[key] = (window, previous, current)
                return False, (window + 1) * expiry - now
            self._windows[key] = (window, previous, current + 1)
            return True, 0.0


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.storage = storage_from_string(settings.redis_url or "memory://")
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.local = None if settings.redis_url else LocalSlidingWindow()
        self.auth = parse(settings.rate_limit_auth)
        self.tenant = parse(settings.rate_limit_tenant)
        self.login_account = parse(settings.rate_limit_login_account)
        # Exact counting for the sign-in routes and the account lock-out (few hits, each worth a
        # password guess): the sliding counter's estimate would let a guess more through at a
        # window's edge (floor(5 × 0.999) + 0 < 5 just after the minute turns).
        self.exact = MovingWindowRateLimiter(self.storage)

    def hit(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Count one request; over the limit it is refused with 429 and Retry-After."""
        if self.local is not None:
            allowed, wait = self.local.hit(limit, *identifiers)
            if allowed:
                return
            _refuse(wait)
        self._hit_shared(self.limiter, limit, *identifiers)

    def hit_exact(self, limit: RateLimitItem, *identifiers: str) -> None:
        """`hit`, counted exactly: for routes that see few requests, each worth a password guess."""
        self._hit_shared(self.exact, limit, *identifiers)

    def _hit_shared(self, limiter: Limiter, limit: RateLimitItem, *identifiers: str) -> None:
        try:
            if limiter.hit(limit, *identifiers):
                return
            stats = limiter.get_window_stats(limit, *identifiers)
        except Exception as exc:  # the storage (Redis) failed: let the request through
            log.warning("rate limit storage unavailable: %s", type(exc).__name__)
            return
        _refuse(stats.reset_time - time.time())

    def refuse_locked_account(self, email: str) -> None:
        """429 `account_locked` while this account has used up its failed sign-ins; else nothing.

        Per account, whatever the IP, so a botnet cannot try one account's password from many
        addresses. Only failures count (`failed_sign_in`) and attempts while locked are not
        counted, so an attacker can lock an account for at most one window at a time, never for
        good; the owner's right password works again as soon as the window has passed.
        """
        key = _account_key(email)
        try:
            if self.exact.test(self.login_account, "login", key):
                return
            stats = self.exact.get_window_stats(self.login_account, "login", key)
        except Exception as exc:
            log.warning("rate limit storage unavailable: %s", type(exc).__name__)
            return
        _refuse(stats.reset_time - time.time(), "account_locked")

    def failed_sign_in(self, email: str) -> None:
        try:
            self.exact.hit(self.login_account, "login", _account_key(email))
        except Exception as exc:
            log.warning("rate limit storage unavailable: %s", type(exc).__name__)


def _refuse(wait: float, code: str = "rate_limited") -> NoReturn:
    """429 with `code`, and Retry-After in whole seconds (at least 1) until one more would pass."""
    seconds = max(1, math.ceil(wait))
    raise ApiError(429, code, headers={"Retry-After": str(seconds)}, seconds=seconds)


def _account_key(email: str) -> str:
    # The counter's key names no email (Redis is shared infrastructure, its keys get listed).
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]

"""Rate limits with the `limits` library: per client IP on /auth/*, per tenant everywhere else.

Counters live in Redis when `redis_url` is set (shared by every API replica), else in this
process. A sliding-window counter: O(1) per hit, and no burst of twice the limit at a window edge.
If Redis is down the request goes through (logged): an outage of the limiter must not take the
API down with it.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from api.errors import ApiError
from settings import Settings

log = logging.getLogger("stock_tracker.api")


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.storage = storage_from_string(settings.redis_url or "memory://")
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.auth = parse(settings.rate_limit_auth)
        self.tenant = parse(settings.rate_limit_tenant)

    def hit(self, limit: RateLimitItem, *identifiers: str) -> None:
        """Count one request; over the limit it is refused with 429 and Retry-After."""
        try:
            if self.limiter.hit(limit, *identifiers):
                return
            stats = self.limiter.get_window_stats(limit, *identifiers)
        except Exception as exc:  # the storage (Redis) failed: let the request through
            log.warning("rate limit storage unavailable: %s", type(exc).__name__)
            return
        seconds = max(1, math.ceil(stats.reset_time - time.time()))
        raise ApiError(429, "rate_limited", headers={"Retry-After": str(seconds)}, seconds=seconds)

"""Token buckets per (seller account, method group), as WB and Ozon document their limits.

Each bucket holds `burst` tokens and gains one every `interval` seconds. The sandbox's time scale
divides every interval, so tests run the documented limits N× faster with the same shape.
Tokens may go below zero: WB charges a 4xx on marketplace methods as 10 requests, a debt that
refills like any other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """One documented limit: a token every `interval` seconds, at most `burst` saved up."""

    interval: float
    burst: int

    @classmethod
    def per_minute(cls, count: float, burst: int) -> Limit:
        return cls(60.0 / count, burst)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    # Seconds (already time-scaled) until one request would pass / until the bucket is full.
    retry_after: float
    reset_after: float


class TokenBuckets:
    def __init__(self, time_scale: float = 1.0) -> None:
        self.time_scale = time_scale
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (tokens, stamp)

    def _refill(self, key: tuple[str, str], limit: Limit, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (float(limit.burst), now))
        interval = limit.interval / self.time_scale
        return min(float(limit.burst), tokens + (now - stamp) / interval)

    def take(self, account: str, group: str, limit: Limit, cost: float = 1.0) -> Decision:
        now = time.monotonic()
        key = (account, group)
        tokens = self._refill(key, limit, now)
        interval = limit.interval / self.time_scale
        if tokens >= cost:
            tokens -= cost
            self._buckets[key] = (tokens, now)
            return Decision(True, int(tokens), 0.0, (limit.burst - tokens) * interval)
        self._buckets[key] = (tokens, now)
        return Decision(False, 0, (cost - tokens) * interval, (limit.burst - tokens) * interval)

    def charge(self, account: str, group: str, limit: Limit, extra: float) -> None:
        """Add a penalty after the fact (WB: a 4xx on marketplace methods counts 10 requests)."""
        now = time.monotonic()
        key = (account, group)
        self._buckets[key] = (self._refill(key, limit, now) - extra, now)

    def reset(self) -> None:
        self._buckets.clear()


def header_seconds(seconds: float, time_scale: float) -> str:
    """Seconds for a retry header: whole seconds at real speed, decimals when time-scaled."""
    if time_scale == 1.0:
        return str(max(1, int(-(-seconds // 1))) if seconds > 0 else 0)
    return f"{seconds:.3f}"

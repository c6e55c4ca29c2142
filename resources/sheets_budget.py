"""The shared Google Sheets budget: one token bucket per service account, shared by every process.

Google's quota is per user (our service account) per minute, so all tenants' publishes — in any
Dagster run, CLI command or API replica — draw from one bucket (DESIGN §6: 50 writes/min default).

* App database (default): a row per bucket in `sheets_write_budget`. `acquire` is one short
  transaction under the row lock (`SELECT … FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on
  SQLite) that *reserves* a token — the balance may go negative, one token per waiting caller —
  then the caller sleeps outside the transaction until its token is due. Callers are served in
  lock order and nobody polls.
* Redis (`redis_url`): `limits`' moving window in Redis, for deployments that run Redis anyway.

Burst defaults to 10 = Google's 60/min − our 50/min: in any 60 s the bucket lets through at most
burst + rate = 60 calls, so even a fixed-window quota never sees more than it allows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError

from warehouse.app_db import engine_for
from warehouse.models import SheetsWriteBudget

DEFAULT_PER_MINUTE = 50
DEFAULT_BURST = 10
_LOCK_RETRIES = 5  # SQLite past its 30 s busy timeout, or a dropped PostgreSQL connection
_TABLE: Any = SheetsWriteBudget.__table__


class Budget(Protocol):
    def acquire(self, key: str) -> float:
        """Block until one call under `key` may go out; the seconds waited."""
        ...


@dataclass
class DatabaseBudget:
    database_url: str
    per_minute: float = DEFAULT_PER_MINUTE
    burst: int = DEFAULT_BURST
    time_scale: float = 1.0  # tests run the real numbers N× faster, as the sandbox does
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1 or self.time_scale <= 0:
            raise ValueError("per_minute, burst and time_scale must be positive")

    @property
    def rate(self) -> float:
        """Tokens per (wall-clock) second."""
        return self.per_minute / 60.0 * self.time_scale

    def acquire(self, key: str) -> float:
        for attempt in range(_LOCK_RETRIES):
            try:
                wait = self._reserve(key)
                break
            except OperationalError:
                if attempt == _LOCK_RETRIES - 1:
                    raise
                self.sleep(0.05 * 2**attempt)
        if wait > 0:
            self.sleep(wait)  # outside the transaction: others reserve meanwhile
        return wait

    def _reserve(self, key: str) -> float:
        with engine_for(self.database_url).connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # pysqlite defers BEGIN until the first write; take the write lock before reading.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            # The clock is read under the lock, so stamps only move forward between holders.
            now = time.time()
            insert = sqlite_insert if sqlite else pg_insert
            connection.execute(
                insert(_TABLE)
                .values(service_account=key, tokens=float(self.burst), updated_at=_stamp(now))
                .on_conflict_do_nothing()
            )
            row = connection.execute(
                select(_TABLE.c.tokens, _TABLE.c.updated_at)
                .where(_TABLE.c.service_account == key)
                .with_for_update()
            ).one()
            # Clocks of different machines may disagree a little: never refill for negative time.
            last = row.updated_at.timestamp()
            now = max(now, last)
            tokens = min(float(self.burst), row.tokens + (now - last) * self.rate) - 1.0
            connection.execute(
                update(_TABLE)
                .where(_TABLE.c.service_account == key)
                .values(tokens=tokens, updated_at=_stamp(now))
            )
            connection.commit()
        return max(0.0, -tokens / self.rate) + max(0.0, now - time.time())


def _stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class RedisBudget:
    """`limits`' moving window in Redis: at most `per_minute` calls in any minute per key.

    `limits` windows are whole seconds, so a time-scaled window is 60/time_scale rounded to ≥ 1 s;
    use time scales that divide 60 (e.g. 60) in tests to keep the shape exact.
    """

    redis_url: str
    per_minute: float = DEFAULT_PER_MINUTE
    time_scale: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        # Imported here: only deployments with Redis need the Redis client.
        from limits import RateLimitItemPerSecond
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        window = max(1, round(60.0 / self.time_scale))
        amount = max(1, int(self.per_minute * window * self.time_scale / 60.0))
        self._item = RateLimitItemPerSecond(amount, window, namespace="sheets-budget")
        self._limiter = MovingWindowRateLimiter(storage_from_string(self.redis_url))

    def acquire(self, key: str) -> float:
        waited = 0.0
        while not self._limiter.hit(self._item, key):
            reset = self._limiter.get_window_stats(self._item, key).reset_time
            pause = min(max(0.005, reset - time.time()), 60.0)
            self.sleep(pause)
            waited += pause
        return waited


def make_budget(
    database_url: str,
    redis_url: str = "",
    per_minute: float = DEFAULT_PER_MINUTE,
    burst: int = DEFAULT_BURST,
    time_scale: float = 1.0,
) -> Budget:
    if redis_url:
        return RedisBudget(redis_url, per_minute, time_scale)
    if not database_url:
        raise ValueError("the Sheets budget needs the app database URL (or a Redis URL)")
    return DatabaseBudget(database_url, per_minute, burst, time_scale)

"""The plan's limits on every signed-in request (DESIGN §6a): API calls per calendar month, and
read-only access once the subscription is canceled or unpaid.

Calls are counted per tenant and UTC month in the app database (one upsert, one round trip per
request), or in Redis when `redis_url` is set (one pipelined INCR + EXPIREAT). Every counted
response carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds to the
month's end); past the limit the answer is 429 `plan_quota_exceeded` with the reset time. Billing
routes are not counted, so a seller over the quota can still upgrade.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import make_url
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError
from api.routes import API_PREFIX
from settings import Settings
from warehouse.app_db import database_url, postgres_engine
from warehouse.billing import sync_gate
from warehouse.models import ApiUsage, Subscription, Tenant
from warehouse.plans import PLANS, first_allowing

log = logging.getLogger("stock_tracker.api")
UNCOUNTED_PREFIXES = (f"{API_PREFIX}/billing",)
READ_METHODS = ("GET", "HEAD", "OPTIONS")
HEADERS_KEY = "quota_headers"


@dataclass(frozen=True)
class QuotaState:
    limit: int
    used: int
    reset_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self, now: datetime) -> dict[str, str]:
        reset = max(0, int((self.reset_at - now).total_seconds()))
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f'"monthly";q={self.limit};w={reset}',
        }


def period_of(now: datetime) -> tuple[str, datetime]:
    """The calendar month (UTC) `now` falls in, and when the next one starts."""
    start_next = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return f"{now.year:04d}-{now.month:02d}", start_next


class ApiQuota:
    def __init__(self, settings: Settings) -> None:
        self.redis = None
        if settings.redis_url:
            import redis

            self.redis = redis.Redis.from_url(settings.redis_url, socket_timeout=1)
        url = make_url(database_url(settings.app_database_url))
        # PostgreSQL: one autocommit statement per request on a pool of its own, which need not wait
        # for the WAL flush (a crash may forget the last few calls; bench/bench_billing.py). The
        # tenant id comes from the verified token, so this pool needs no row-level scope.
        self.engine: Engine | None = None
        if url.get_backend_name() == "postgresql":
            self.engine = _counter_engine(url.render_as_string(hide_password=False))

    def count(self, session: Session, tenant_id: str, tier: str, now: datetime | None = None) -> QuotaState:
        now = now or datetime.now(UTC)
        period, reset_at = period_of(now)
        return QuotaState(PLANS[tier].api_calls_per_month, self.add(session, tenant_id, period), reset_at)

    def add(self, session: Session, tenant_id: str, period: str, calls: int = 1) -> int:
        """Count `calls` more calls this period; the period's total with them."""
        _, reset_at = period_of(datetime.now(UTC))
        used = self._count_redis(tenant_id, period, reset_at, calls) if self.redis is not None else None
        if used is None and self.engine is not None:
            with self.engine.connect() as connection:
                # Plain SQL: building the same upsert with SQLAlchemy Core cost ~1 ms a request
                # more than the round trip itself (bench/bench_billing.py).
                found = connection.exec_driver_sql(
                    PG_UPSERT, {"tenant": tenant_id, "period": period, "calls": calls}
                )
                used = int(found.scalar_one())
        if used is None:
            used = add_call(session, tenant_id, period, calls)
        return used

    def used(self, session: Session, tenant_id: str, now: datetime | None = None) -> int:
        """This period's calls so far, from where `count` keeps them (Redis when configured)."""
        now = now or datetime.now(UTC)
        period, _ = period_of(now)
        if self.redis is not None:
            try:
                found = self.redis.get(redis_key(tenant_id, period))
                return int(found or 0)  # type: ignore[arg-type]
            except Exception as exc:  # as in `count`: the database holds the calls meanwhile
                log.warning("quota counter storage unavailable: %s", type(exc).__name__)
        return calls_this_period(session, tenant_id, now)

    def _count_redis(self, tenant_id: str, period: str, reset_at: datetime, calls: int = 1) -> int | None:
        key = redis_key(tenant_id, period)
        try:
            assert self.redis is not None
            pipe = self.redis.pipeline()
            pipe.incrby(key, calls)
            pipe.expireat(key, int(reset_at.timestamp()) + 86_400)
            return int(pipe.execute()[0])
        except Exception as exc:  # Redis down: count in the database instead of failing requests
            log.warning("quota counter storage unavailable: %s", type(exc).__name__)
            return None


_counter_engines: dict[str, Engine] = {}
_counter_engines_lock = threading.Lock()


def _counter_engine(url: str) -> Engine:
    """One counter pool per database and process, like `warehouse.app_db.engine_for`: an app
    built again (a test, a reload) reuses it instead of leaving a pool of open connections."""
    with _counter_engines_lock:
        engine = _counter_engines.get(url)
        if engine is None:
            engine = _counter_engines[url] = postgres_engine(
                url, isolation_level="AUTOCOMMIT", connect_args={"options": "-c synchronous_commit=off"}
            )
        return engine


PG_UPSERT = (
    "INSERT INTO api_usage (tenant_id, period, calls) VALUES (%(tenant)s, %(period)s, %(calls)s) "
    "ON CONFLICT (tenant_id, period) DO UPDATE SET calls = api_usage.calls + EXCLUDED.calls RETURNING calls"
)


def redis_key(tenant_id: str, period: str) -> str:
    return f"stock-tracker:api-calls:{tenant_id}:{period}"


def _upsert(insert: Any, tenant_id: str, period: str, calls: int = 1) -> Any:
    return (
        insert(ApiUsage)
        .values(tenant_id=tenant_id, period=period, calls=calls)
        .on_conflict_do_update(index_elements=["tenant_id", "period"], set_={"calls": ApiUsage.calls + calls})
        .returning(ApiUsage.calls)
    )


def add_call(session: Session, tenant_id: str, period: str, calls: int = 1) -> int:
    """`calls` more calls this period in the request's session (SQLite); returns the period's count."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    calls = int(session.execute(_upsert(insert, tenant_id, period, calls)).scalar_one())
    session.commit()
    return calls


def calls_this_period(session: Session, tenant_id: str, now: datetime | None = None) -> int:
    period, _ = period_of(now or datetime.now(UTC))
    found = session.get(ApiUsage, (tenant_id, period))
    return found.calls if found else 0


def enforce(request: Request, session: Session, tenant: Tenant, subscription: Subscription | None) -> None:
    """Count the request against the plan; refuse it past the quota, or a change once read-only.
    `subscription` is the tenant's, read with the signed-in user (no query of its own)."""
    path = request.url.path
    if path.startswith(UNCOUNTED_PREFIXES):
        return
    gate = sync_gate(subscription)
    if gate.read_only and request.method not in READ_METHODS:
        raise ApiError(403, "subscription_read_only")
    now = datetime.now(UTC)
    period, _ = period_of(now)
    check(request, tenant.tier, request.app.state.quota.add(session, tenant.id, period), now)


def check(request: Request, tier: str, used: int, now: datetime) -> None:
    """Stamp the quota headers for `used` calls this month; 429 past the plan's limit."""
    _, reset_at = period_of(now)
    state = QuotaState(PLANS[tier].api_calls_per_month, used, reset_at)
    headers = state.headers(now)
    request.scope.setdefault("state", {})[HEADERS_KEY] = headers
    if state.used > state.limit:
        better = first_allowing(lambda p: p.api_calls_per_month > state.limit)
        raise ApiError(
            429,
            "plan_quota_exceeded",
            headers={**headers, "Retry-After": headers["RateLimit-Reset"]},
            limit=state.limit,
            reset=state.reset_at.strftime("%Y-%m-%d %H:%M UTC"),
            plan=better.name if better else "-",
        )


class QuotaHeadersMiddleware:
    """Puts the quota headers a request was counted with on its response, whatever route made it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = (scope.get("state") or {}).get(HEADERS_KEY)
                if headers:
                    raw = list(message.get("headers", []))
                    present = {k.lower() for k, _ in raw}
                    raw += [
                        (k.lower().encode(), v.encode())
                        for k, v in headers.items()
                        if k.lower().encode() not in present
                    ]
                    message["headers"] = raw
            await send(message)

        await self.app(scope, receive, stamped)

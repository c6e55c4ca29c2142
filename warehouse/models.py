"""The app schema (DESIGN §4 Tenancy): tenants, users, marketplace credentials, subscriptions, sync runs.

Only `tenants.py`, `sync_runs.py` and `telemetry.py` query these models. Migrations are generated from them
(`warehouse/migrations`, compare_type=True), so a change here needs a new revision.

Choices kept as short strings with CHECK constraints rather than database enums: the same DDL
runs on SQLite and PostgreSQL, and adding a tier later is one migration, not an `ALTER TYPE`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

TIERS = ("starter", "pro", "enterprise")
TENANT_STATUSES = ("active", "suspended", "deleted")
LOCALES = ("ru", "en")
ORDERS_WINDOWS = (7, 14, 30)
ROLES = ("owner", "admin", "viewer")
MARKETPLACES = ("wildberries", "ozon")
CREDENTIAL_STATUSES = ("valid", "invalid", "unchecked")
# Stripe's subscription statuses the product acts on (paused: a trial ended without a card).
SUBSCRIPTION_STATUSES = ("trialing", "active", "past_due", "canceled", "unpaid", "paused")
SYNC_TRIGGERS = ("schedule", "manual", "api", "cli", "demo")
SYNC_STATUSES = ("queued", "running", "success", "failed", "skipped")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both databases.

    SQLite keeps no offset and hands back naive values; PostgreSQL's timestamptz comes back in the
    session time zone. Normalising here means callers always compare aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_of(column: str, values: tuple[Any, ...]) -> CheckConstraint:
    listed = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


class Base(DeclarativeBase):
    # Deterministic constraint names: migrations can drop/alter them by name on both databases
    # (SQLite batch mode needs names to rebuild a table).
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        _one_of("tier", TIERS),
        _one_of("status", TENANT_STATUSES),
        _one_of("locale", LOCALES),
        _one_of("orders_window_days", ORDERS_WINDOWS),
        CheckConstraint("low_stock_days >= 1", name="low_stock_days"),
    )

    # A slug: it names the Dagster partition and the warehouse schema `t_<id>`.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16), default="starter")
    status: Mapped[str] = mapped_column(String(16), default="active")
    spreadsheet_id: Mapped[str | None] = mapped_column(String(128))
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8), default="ru")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    orders_window_days: Mapped[int] = mapped_column(Integer, default=7)
    low_stock_days: Mapped[int] = mapped_column(Integer, default=14)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class User(Base):
    __tablename__ = "users"
    # AUTOINCREMENT: SQLite would otherwise hand a removed user's id to the next user added, and
    # anything still naming the old id (a token, a log line) would point at the new one.
    # PostgreSQL sequences never reuse ids.
    __table_args__ = (_one_of("role", ROLES), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    # The user's Telegram user id, given at sign-up, so the bot can link that chat; Telegram ids
    # need more than 32 bits.
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class MarketplaceCredential(Base):
    __tablename__ = "marketplace_credentials"
    __table_args__ = (
        UniqueConstraint("tenant_id", "marketplace"),
        _one_of("marketplace", MARKETPLACES),
        _one_of("status", CREDENTIAL_STATUSES),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    marketplace: Mapped[str] = mapped_column(String(16))
    # A Fernet token of the JSON key fields; never the plain key (warehouse/vault.py).
    secret: Mapped[str] = mapped_column(Text)
    # Non-secret id of the key, the only thing the API and CLI show.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="unchecked")
    last_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    check_message: Mapped[str | None] = mapped_column(Text)
    # WB tokens carry their expiry (JWT `exp`); Ozon keys do not expire.
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (_one_of("tier", TIERS), _one_of("status", SUBSCRIPTION_STATUSES))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), unique=True)
    tier: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="trialing")
    trial_ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    current_period_end: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    # A downgrade waits for the period end (it never deletes data): the tier it will become.
    pending_tier: Mapped[str | None] = mapped_column(String(16))
    # When the state kept here was current at Stripe (the event's `created`): webhooks arrive in
    # any order, and an older state never overwrites a newer one.
    stripe_state_at: Mapped[int | None] = mapped_column(BigInteger)
    # The first failed payment of the current run of failures: syncs go on for the grace period.
    past_due_since: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (
        _one_of("trigger", SYNC_TRIGGERS),
        _one_of("tier", TIERS),
        _one_of("status", SYNC_STATUSES),
        # "Recent runs of a tenant" and "is one running" are the hot reads.
        Index("ix_sync_runs_tenant_id_started_at", "tenant_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # The Dagster run id; None for runs outside Dagster (e.g. a sync refused before launch).
    run_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    trigger: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class RefreshToken(Base):
    """One issued refresh token (api/): single use. A family is the chain of tokens one login
    started; presenting a spent token again means it was stolen, and revokes the whole family."""

    __tablename__ = "refresh_tokens"

    # The JWT's `jti`: the token itself is never stored.
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Denormalised from the user so row-level security keys this table like every tenant table.
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SheetsWriteBudget(Base):
    """The shared Google Sheets budget (resources/sheets_budget.py): one token bucket per row, so
    every process (Dagster runs, CLI, API) draws from the same per-service-account quota.

    The key is the service-account e-mail for writes and `<e-mail>#reads` for its read budget;
    `tokens` may go negative: each is a reservation some caller is already waiting out.
    """

    __tablename__ = "sheets_write_budget"

    service_account: Mapped[str] = mapped_column(String(400), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MarketplaceCalls(Base):
    """What one sync asked of one marketplace endpoint family (pipelines/http_policy.py counts it,
    the ingest step writes it). Runs are separate processes, so the API's /metrics sums these rows
    instead of counters that would die with each run."""

    __tablename__ = "marketplace_calls"
    __table_args__ = (
        _one_of("marketplace", MARKETPLACES),
        Index("ix_marketplace_calls_marketplace_family", "marketplace", "family"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    marketplace: Mapped[str] = mapped_column(String(16))
    # The documented limit group (`content.cards_list`, `ozon.analytics_stocks`, …): few, fixed.
    family: Mapped[str] = mapped_column(String(64))
    requests: Mapped[int] = mapped_column(Integer, default=0)
    throttled: Mapped[int] = mapped_column(Integer, default=0)  # HTTP 429
    server_errors: Mapped[int] = mapped_column(Integer, default=0)  # HTTP 5xx
    retries: Mapped[int] = mapped_column(Integer, default=0)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class MarketplaceLoad(Base):
    """Rows one sync loaded from one marketplace (dlt's normalize counts), written by the ingest step."""

    __tablename__ = "marketplace_loads"
    __table_args__ = (_one_of("marketplace", MARKETPLACES),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    marketplace: Mapped[str] = mapped_column(String(16))
    rows_loaded: Mapped[int] = mapped_column(Integer, default=0)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


SHEET_PUBLISH_OUTCOMES = ("published", "unchanged", "failed")


class SheetPublish(Base):
    """One publish of a tenant's grids to Google Sheets (resources/sheets.py records it)."""

    __tablename__ = "sheet_publishes"
    __table_args__ = (
        _one_of("outcome", SHEET_PUBLISH_OUTCOMES),
        Index("ix_sheet_publishes_outcome", "outcome"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_account: Mapped[str] = mapped_column(String(400))
    outcome: Mapped[str] = mapped_column(String(16))
    writes: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PlatformCounter(Base):
    """Running totals for the operator's metrics (warehouse/counters.py), added to in the same
    transaction as the record they count, so a scrape reads a few hundred rows instead of summing
    every sync ever recorded. `labels` is the JSON of the label set (sorted keys)."""

    __tablename__ = "platform_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[float] = mapped_column(Float, default=0.0)


class TenantSyncState(Base):
    """When each tenant last synced successfully, kept by the sync bookkeeping (sync_runs.py) so
    the data-age metrics read one row per tenant instead of searching the sync history."""

    __tablename__ = "tenant_sync_state"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    last_success_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StripeEvent(Base):
    """A Stripe webhook event already processed: each event id is applied once."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    tenant_id: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ApiUsage(Base):
    """API calls of one tenant in one calendar month (UTC), counted against the plan's quota."""

    __tablename__ = "api_usage"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    calls: Mapped[int] = mapped_column(Integer, default=0)


WEBHOOK_DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(Base):
    """A seller's URL that gets signed events (Pro and up, DESIGN §6a)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    # Fernet token of the signing secret (warehouse/vault.py): shown to the seller once.
    secret: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint, tried until delivered or out of retries."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        _one_of("status", WEBHOOK_DELIVERY_STATUSES),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        # One event reaches one endpoint once, however often the sync is recorded.
        UniqueConstraint("endpoint_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


TELEGRAM_CHAT_KINDS = ("private", "group", "supergroup")
TELEGRAM_REPORT_MODES = ("every_sync", "daily", "alerts")


class TelegramChat(Base):
    """A Telegram chat linked to a tenant (DESIGN §6b): a person or a team group. A chat belongs to
    one tenant at a time (`chat_id` is unique), so it only ever sees that tenant's data."""

    __tablename__ = "telegram_chats"
    __table_args__ = (
        _one_of("kind", TELEGRAM_CHAT_KINDS),
        _one_of("language", LOCALES),
        _one_of("report_mode", TELEGRAM_REPORT_MODES),
        CheckConstraint("daily_hour BETWEEN 0 AND 23", name="daily_hour"),
        CheckConstraint("quiet_start IS NULL OR quiet_start BETWEEN 0 AND 23", name="quiet_start"),
        CheckConstraint("quiet_end IS NULL OR quiet_end BETWEEN 0 AND 23", name="quiet_end"),
        CheckConstraint("low_cover_days >= 1", name="low_cover_days"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # Telegram chat ids need more than 32 bits (groups are negative).
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(255))
    # The user a private chat speaks for (the one who made its link, or whose Telegram id it is):
    # the bot allows that user's role only, and the chat goes when the user does. None: a group,
    # linked by an owner or admin.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8), default="ru")
    report_mode: Mapped[str] = mapped_column(String(16), default="every_sync")
    # Local hour (in `timezone`) of the daily digest.
    daily_hour: Mapped[int] = mapped_column(Integer, default=9)
    # Local hours [start, end) when nothing but answers is sent; both None: no quiet hours.
    quiet_start: Mapped[int | None] = mapped_column(Integer)
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    low_cover_days: Mapped[int] = mapped_column(Integer, default=14)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why sending stopped: `blocked` (403), `chat_not_found` (400), `unlinked`.
    inactive_reason: Mapped[str | None] = mapped_column(Text)
    # After a bare /connect: the next message is the key until then (kept in the database, not in
    # one bot process, so any worker taking the next webhook update knows).
    awaiting_key_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class TelegramLinkCode(Base):
    """A one-time `/start <code>` deep-link code: single use, short-lived, only its hash stored."""

    __tablename__ = "telegram_link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # A code dies with the user who made it: it would link a chat speaking for nobody.
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    used_by_chat: Mapped[int | None] = mapped_column(BigInteger)


class SupplyPlanSettings(Base):
    """A tenant's supply-plan settings as one JSON document (warehouse/supply_settings.py)."""

    __tablename__ = "supply_plan_settings"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


TELEGRAM_DELIVERY_STATUSES = ("pending", "delivered", "failed", "superseded")
TELEGRAM_DELIVERY_KINDS = ("report", "digest", "alert")


class TelegramDelivery(Base):
    """What one linked chat is to receive: a sync's report, a daily digest, or a batch of alerts.

    Queued in the transaction that decides it (the report step, the alert state change), sent by
    the report step right after and, while it fails, by the `telegram_deliveries` sensor. `key`
    makes it once per chat: `report:<root run id>` (a retried run finds its row and sends nothing
    new), `digest:<local date>`, `alerts:<id>`. `parts` are the Bot API calls in order; `sent`
    counts those done, so a retry after a sent text and a failed photo sends only the photo.
    """

    __tablename__ = "telegram_deliveries"
    __table_args__ = (
        _one_of("status", TELEGRAM_DELIVERY_STATUSES),
        _one_of("kind", TELEGRAM_DELIVERY_KINDS),
        UniqueConstraint("tenant_id", "chat_id", "key"),
        Index("ix_telegram_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[str | None] = mapped_column(String(64))
    # [{"method": "sendMessage", "text": …} | {"method": "sendPhoto", "caption": …}], in order.
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)  # dropped once delivered
    # The report's totals, for the next report's "change since the last report".
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    sent: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TelegramAlertState(Base):
    """An alert condition that fired for a chat and has not cleared yet (api/bot/alerts.py).

    A row is the "fired" state: while it exists the condition does not fire again; it is deleted
    when the condition clears, which re-arms the alert."""

    __tablename__ = "telegram_alert_states"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # `low_cover:wildberries:<product>:<group>`, `token_expiring:wildberries:<date>`, …
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    run_id: Mapped[str | None] = mapped_column(String(64))

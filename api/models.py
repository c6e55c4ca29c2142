"""Request and response bodies. Constraints live here so the OpenAPI document states them exactly
(Swagger UI and generated clients see the same rules the server applies)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.security import is_common_password

Role = Literal["owner", "admin", "viewer"]
Locale = Literal["ru", "en"]
Marketplace = Literal["wildberries", "ozon"]
Tier = Literal["starter", "pro", "enterprise"]

# No control characters anywhere (C0, DEL, C1): PostgreSQL text cannot hold NUL, and no real
# email, name, password or key contains the others; they would only corrupt the sheet and the logs.
# `\s` alone is no guard: in a negated class it lets NUL through as "not a space" (`\S`). Emails
# and keys may come with whitespace around them (pasted), which is trimmed, never stored.
NO_CONTROL = r"\x00-\x1f\x7f-\x9f"
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=320,
        pattern=rf"^[ ]*[^@\s{NO_CONTROL}]{{1,64}}@[^@\s{NO_CONTROL}]+\.[^@\s{NO_CONTROL}]+[ ]*$",
    ),
]


def _not_common(password: str) -> str:
    if is_common_password(password):
        raise ValueError("this password is one of the most common ones; choose another")
    return password


Password = Annotated[
    str,
    AfterValidator(_not_common),
    Field(
        min_length=8,
        max_length=128,
        pattern=rf"^[^{NO_CONTROL}]+$",
        description="8-128 characters, not a common password.",
    ),
]
Name = Annotated[
    str, Field(min_length=1, max_length=200, pattern=rf"^[^{NO_CONTROL}]*[^\s{NO_CONTROL}][^{NO_CONTROL}]*$")
]
# Keys go into HTTP headers: visible ASCII only (spaces and line ends around are trimmed).
Key = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[ \t\r\n]*[!-~]+[ \t\r\n]*$")]
# A bare id, or a URL holding one (`…/spreadsheets/d/<id>/edit…`); empty unlinks.
SPREADSHEET = (
    rf"^([ ]*|[ ]*[A-Za-z0-9_-]{{1,128}}[ ]*"
    rf"|[^{NO_CONTROL}]*/spreadsheets/d/[A-Za-z0-9_-]{{1,128}}([^A-Za-z0-9_{NO_CONTROL}-][^{NO_CONTROL}]*)?)$"
)
# A JWT is base64url parts joined by dots.
TokenText = Annotated[str, Field(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9._=-]+$")]


@cache
def timezones() -> list[str]:
    return sorted(available_timezones())


class Strict(BaseModel):
    """Settings bodies: a misspelt field is refused, so a change is never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Lenient(BaseModel):
    """The auth bodies the predecessor documented: scripts written against it send fields of their
    own (`grant_type`, `scope`, `client_id`, …), which are ignored, not refused."""

    model_config = ConfigDict(extra="ignore")


# --- auth --------------------------------------------------------------------------------------

# Telegram: "at most 52 significant bits" (Bot API, User.id); strict, so `true` or "12" are refused.
TelegramId = Annotated[int, Field(strict=True, ge=1, lt=2**52)]
# What a sign-in names the account by: lenient, as a wrong one only fails to match.
SignInName = Annotated[str, Field(min_length=1, max_length=320, pattern=rf"^[^{NO_CONTROL}]*$")]


class RegisterRequest(Lenient):
    email: Email
    password: Password
    tenant_name: Name | None = Field(
        None,
        description="The seller's name, e.g. the shop or legal entity; by default the part of the "
        "email before @.",
    )
    telegram_id: TelegramId | None = Field(
        None, description="Your Telegram user id, so the bot can link your chat."
    )
    locale: Locale = "ru"


class LoginRequest(Lenient):
    """Email (as `email`, or as `username` like an OAuth2 password form) and password."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["email"]}, {"required": ["username"]}]}
    )

    email: SignInName | None = None
    username: SignInName | None = Field(None, description="Your email (OAuth2's name).")
    password: Annotated[str, Field(min_length=1, max_length=128, pattern=rf"^[^{NO_CONTROL}]+$")]
    grant_type: Literal["password"] | None = Field(
        None, description="OAuth2 password flow: `password` when given."
    )

    @model_validator(mode="after")
    def _named(self) -> LoginRequest:
        if self.email is None and self.username is None:
            raise ValueError("email or username is required")
        return self

    @property
    def login_email(self) -> str:
        return self.email or self.username or ""


class RefreshRequest(Lenient):
    refresh_token: TokenText


class LogoutRequest(Lenient):
    refresh_token: TokenText | None = Field(
        None, description="Ends this token's sign-in; without it, the Bearer access token's."
    )


class UserOut(BaseModel):
    id: int
    email: str
    role: Role
    tenant_id: str
    telegram_id: int | None = None
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid.")
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid (it is single-use).")
    user: UserOut


# --- tenant ------------------------------------------------------------------------------------


class SubscriptionOut(BaseModel):
    tier: Tier
    status: Literal["trialing", "active", "past_due", "canceled", "unpaid", "paused"]
    trial_ends_at: datetime | None
    current_period_end: datetime | None


class TenantOut(BaseModel):
    id: str
    name: str
    tier: Tier
    status: Literal["active", "suspended", "deleted"]
    spreadsheet_id: str | None
    telegram_chat_id: str | None
    locale: Locale
    timezone: str
    orders_window_days: Literal[7, 14, 30]
    low_stock_days: int
    created_at: datetime
    subscription: SubscriptionOut | None


class MeOut(BaseModel):
    user: UserOut
    tenant: TenantOut


class TenantUpdate(Strict):
    name: Name | None = None
    spreadsheet_id: Annotated[
        str | None,
        Field(
            max_length=2000,
            pattern=SPREADSHEET,
            description="A Google Sheets id or the sheet's URL; empty to unlink.",
        ),
    ] = None
    telegram_chat_id: Annotated[
        str | None,
        Field(
            max_length=40,
            pattern=r"^[ ]*(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})?[ ]*$",
            description="A numeric chat id or an @channel; empty to unlink.",
        ),
    ] = None
    locale: Locale | None = None
    timezone: Annotated[
        str | None, Field(max_length=64, json_schema_extra={"enum": [*timezones(), None]})
    ] = Field(None, description="An IANA time zone, e.g. Europe/Moscow.")
    orders_window_days: Literal[7, 14, 30] | None = None
    low_stock_days: Annotated[int, Field(ge=1, le=365)] | None = None


class UserCreate(Strict):
    email: Email
    password: Password
    role: Role = "viewer"


class RoleUpdate(Strict):
    role: Role


# --- credentials -------------------------------------------------------------------------------


class WildberriesKey(Strict):
    marketplace: Literal["wildberries"]
    token: Key


class OzonKey(Strict):
    marketplace: Literal["ozon"]
    client_id: Annotated[
        str, Field(min_length=1, max_length=32, pattern=r"^[ \t\r\n]*[0-9]{1,20}[ \t\r\n]*$")
    ]
    api_key: Annotated[Key, Field(max_length=256)]


MarketplaceKey = Annotated[WildberriesKey | OzonKey, Field(discriminator="marketplace")]


class CredentialStatusOut(BaseModel):
    marketplace: Marketplace
    connected: bool
    fingerprint: str | None = Field(
        None, description="A non-reversible id of the key; the key is never shown."
    )
    status: Literal["valid", "invalid", "unchecked"] | None = None
    valid: bool | None = None
    last_checked_at: datetime | None = None
    check_message: str | None = None
    expires_at: datetime | None = Field(None, description="Wildberries: the token's expiry, from its JWT.")
    updated_at: datetime | None = None


# --- stock -------------------------------------------------------------------------------------


class ProductOut(BaseModel):
    marketplace: Marketplace
    product_id: int = Field(description="WB nmID or Ozon SKU.")
    article: str | None
    brand: str | None
    subject: str | None
    title: str | None
    stock: int
    orders: int = Field(description="Orders in the tenant's window (last N full days).")
    in_way_to_client: int
    in_way_from_client: int
    days_of_cover: float | None = Field(description="stock × window ÷ orders; empty without orders.")
    low_stock: bool
    warehouses: int = Field(description="Warehouses with stock or orders of this product.")
    window_days: int
    snapshot_at: datetime | None


class Page(BaseModel):
    total: int
    page: int
    page_size: int
    pages: int


class ProductPage(Page):
    items: list[ProductOut]
    # The plan covers its first N products by seller article (DESIGN §6a): how many are left out.
    left_out_by_plan: int = 0
    plan_note: str | None = None


class WarehouseStockOut(BaseModel):
    warehouse_name: str = Field(
        description="The warehouse as the marketplace reports it. Since 2026-08-15 WB reports most of "
        "its own warehouses only in aggregate (`Склад WB РФ`, `Склад WB СГТ РФ`, `Склад WB`), a few "
        "(e.g. `Коледино`, non-RF ones) still by name; the product never invents a split."
    )
    warehouse_kind: str = Field(description="FBO (marketplace warehouse) or FBS (seller's).")
    group: str = Field(
        description="The sheet group (column) this warehouse's numbers are shown in: its name, "
        "`<name> (FBS)` for a seller warehouse, or `Склад WB` for every WB warehouse while WB reports "
        "them in aggregate (it then reports their orders only as `Склад WB`, so stock and orders "
        "pair up only in the group).",
        examples=["Склад WB", "Коледино", "Fulllog (FBS)"],
    )
    stock: int
    orders: int
    days_of_cover: float | None = Field(
        description="Days of cover of the group: its stock × window ÷ its orders, one decimal; "
        "empty without orders. For a warehouse alone in its group, its own."
    )


class HistoryPoint(BaseModel):
    at: datetime
    stock: int


class ProductDetail(ProductOut):
    warehouse_stock: list[WarehouseStockOut]
    history: list[HistoryPoint]


# --- sync --------------------------------------------------------------------------------------


class SyncRunOut(BaseModel):
    id: str = Field(description="The Dagster run id.")
    status: Literal["queued", "running", "success", "failed", "skipped"]
    trigger: str
    tier: Tier
    started_at: datetime
    finished_at: datetime | None
    error: str | None


class SyncPage(Page):
    items: list[SyncRunOut]


# --- health ------------------------------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


class TelegramLinkOut(BaseModel):
    url: str = Field(
        description="Open it in Telegram (or share it with your team's group): https://t.me/<bot>?start=<code>."
    )
    group_url: str = Field(description="The same code for a group: https://t.me/<bot>?startgroup=<code>.")
    expires_at: datetime = Field(description="The link works once, until then (15 minutes).")


class TelegramChatOut(BaseModel):
    id: int = Field(description="Use it to unlink: DELETE /api/v1/telegram/chats/{id}.")
    chat_id: int
    kind: Literal["private", "group", "supergroup"]
    title: str | None
    language: Literal["ru", "en"]
    report_mode: Literal["every_sync", "daily", "alerts"]
    daily_hour: int
    quiet_start: int | None
    quiet_end: int | None
    timezone: str
    low_cover_days: int
    active: bool
    inactive_reason: str | None = Field(None, description="blocked, chat_not_found: why sending stopped.")
    linked_at: datetime

"""The one settings object shared by the CLI, Dagster and the API (DESIGN §3).

Read from the environment (prefix `STOCK_TRACKER_`) and an optional `.env`. Every outside service
is a URL setting, so the same code talks to the real service or to the sandbox. In development
the embedded default keeps everything under `home` and generates its own secrets there (mode
0600); in production secrets have no defaults and must be given.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCK_TRACKER_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    # Everything the embedded default keeps (databases, Dagster storage, generated secrets, output).
    home: Path = Path(".stock-tracker")
    # App database (tenants, users, credentials, runs): SQLite by default, PostgreSQL in production.
    app_database_url: str = ""
    # Marketplace data: `duckdb:///…/{tenant}.duckdb` (one file per tenant, embedded default) or
    # `postgresql://…` (one database, a schema per tenant).
    warehouse_url: str = ""
    # Sheet files (`<seller>/stock.xlsx`, `<seller>/<marketplace>.csv`); default `<home>/out`.
    output_dir: Path | None = None
    # Fernet keys, comma-separated, newest first: the first encrypts, all decrypt (rotation).
    encryption_keys: str = ""

    wb_content_url: str = "https://content-api.wildberries.ru"
    wb_analytics_url: str = "https://seller-analytics-api.wildberries.ru"
    wb_statistics_url: str = "https://statistics-api.wildberries.ru"
    wb_marketplace_url: str = "https://marketplace-api.wildberries.ru"
    wb_common_url: str = "https://common-api.wildberries.ru"
    ozon_url: str = "https://api-seller.ozon.ru"
    # Google Sheets: a service-account JSON key file (real), or only its e-mail (the sandbox, which
    # takes `sa:<e-mail>` as the bearer token). Tenants share the spreadsheet with that e-mail.
    sheets_api_url: str = "https://sheets.googleapis.com"
    google_service_account_file: str = ""
    google_service_account_email: str = ""
    # One write budget per service account, shared by every process (app database or Redis).
    sheets_writes_per_minute: int = 50
    # Only the sandbox runs faster than real time; pacing and waits follow it.
    marketplace_time_scale: float = 1.0
    # How long one call to an outside service may wait for its answer (retried after, as any
    # timeout). Real-time bounds: tests of the timeout path set them short.
    marketplace_read_timeout_seconds: float = 60.0
    sheets_timeout_seconds: float = 120.0
    stripe_timeout_seconds: float = 20.0

    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 18555

    # REST API (api/). JWTs are signed HS256 with this secret; rotating it logs everyone out.
    jwt_secret: str = Field("", repr=False)
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    # Browser origins allowed to call the API, comma-separated (`*` for any); empty: none.
    cors_origins: str = ""
    # Shared rate-limit counters for API replicas (`redis://…`); empty: per-process memory.
    redis_url: str = ""
    # `limits` notation: per client IP on /auth/*, per tenant on every other route.
    rate_limit_auth: str = "10/minute"
    rate_limit_tenant: str = "600/minute"
    # Failed sign-ins per account (from any IP) before it is locked for the rest of the window;
    # attempts while locked are not counted, so a lock never outlasts one window.
    rate_limit_login_account: str = "10/15minutes"
    # How long the product list may answer from a cached sign-in check (api/principal_cache.py):
    # a sign-in revoked elsewhere stops reading within this many seconds; 0 asks every time.
    principal_cache_seconds: float = Field(5.0, ge=0, le=5)
    # How a sync run executes its steps: `in_process` (one process per run) or Dagster's
    # `multiprocess` (a process per step; more CPU per run, steps of both marketplaces in parallel).
    sync_executor: Literal["in_process", "multiprocess"] = "in_process"
    # production: /metrics answers only `Authorization: Bearer <this>`; without it, /metrics is off.
    metrics_token: str = ""
    # The Dagster webserver's GraphQL endpoint: the API launches and watches syncs through it.
    dagster_graphql_url: str = "http://127.0.0.1:3000/graphql"
    # Requests one API worker serves at once (api/admission.py): at most its database pool's
    # connections (15); more wait up to `api_queue_seconds`, then get 503 + Retry-After. 0: no limit.
    api_max_in_flight: int = 12
    api_queue_seconds: float = 10.0
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Error reports (resources/sentry.py): off without a DSN; environment defaults to `environment`.
    sentry_dsn: str = Field("", repr=False)
    sentry_environment: str = ""
    # Billing (resources/stripe_billing.py): Stripe's API or the sandbox's stand-in; the secret key
    # and the webhook endpoint's signing secret (`whsec_…`). Checkout and the billing portal send
    # the seller back to `public_url`.
    stripe_api_url: str = "https://api.stripe.com"
    stripe_secret_key: str = Field("", repr=False)
    stripe_webhook_secret: str = Field("", repr=False)
    public_url: str = "http://127.0.0.1:8000"
    # Telegram (resources/telegram_sender.py, api/bot/): the Bot API root (Telegram's, or the
    # sandbox's `telegram` URL) and the bot's token from @BotFather; empty token: no bot, no reports.
    telegram_api_url: str = "https://api.telegram.org"
    telegram_bot_token: str = Field("", repr=False)
    # Webhook mode: updates must carry this in X-Telegram-Bot-Api-Secret-Token; empty: webhook
    # mode refused (long polling with `stock-tracker bot` still works).
    telegram_webhook_secret: str = Field("", repr=False)

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        if self.output_dir is None:
            self.output_dir = self.home / "out"
        if self.environment == "production":
            missing = [
                n
                for n in ("app_database_url", "warehouse_url", "encryption_keys", "jwt_secret")
                if not getattr(self, n)
            ]
            if missing:
                raise ValueError(
                    "production needs " + ", ".join(f"STOCK_TRACKER_{n.upper()}" for n in missing)
                )
            if len(self.jwt_secret) < 32:
                raise ValueError("STOCK_TRACKER_JWT_SECRET must be at least 32 characters")
            return self
        if not self.app_database_url:
            # The embedded default keeps the app database, warehouse and secrets in `home`:
            # the owner's only (warehouse/private_files.py tightens the files themselves).
            self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.home, 0o700)
            self.app_database_url = f"sqlite:///{self.home / 'app.db'}"
        if not self.warehouse_url:
            self.warehouse_url = f"duckdb:///{self.home / 'warehouse' / '{tenant}.duckdb'}"
        if not self.encryption_keys:
            self.encryption_keys = _local_secret(self.home / "secrets" / "fernet.keys", Fernet.generate_key)
        if not self.jwt_secret:
            self.jwt_secret = _local_secret(
                self.home / "secrets" / "jwt.secret", lambda: secrets.token_urlsafe(48).encode()
            )
        return self

    @property
    def fernet_keys(self) -> list[str]:
        return [k.strip() for k in self.encryption_keys.split(",") if k.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def sandbox_urls(self, urls: dict[str, str]) -> Settings:
        """A copy pointed at a running sandbox (its `serve` JSON of base URLs)."""
        return self.model_copy(
            update={
                "wb_content_url": urls["wb_content"],
                "wb_analytics_url": urls["wb_analytics"],
                "wb_statistics_url": urls["wb_statistics"],
                "wb_marketplace_url": urls["wb_marketplace"],
                "wb_common_url": urls["wb_common"],
                "ozon_url": urls["ozon"],
                **({"sheets_api_url": urls["sheets"]} if "sheets" in urls else {}),
                **({"stripe_api_url": urls["stripe"]} if "stripe" in urls else {}),
                **({"telegram_api_url": urls["telegram"]} if "telegram" in urls else {}),
            }
        )


def _local_secret(path: Path, make: object) -> str:
    """A secret kept in `home` for the embedded default, created once with mode 0600."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make().decode() if callable(make) else str(make)  # type: ignore[operator]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()

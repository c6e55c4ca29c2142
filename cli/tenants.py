"""Operator commands: `tenants`, `credentials` (marketplace keys) and `keys` (encryption keys).

Every command brings the app database to the newest schema first (idempotent) and reports any
expected failure as one line and a non-zero exit, never a traceback. Output shows key
fingerprints only; secrets are read from an environment variable or a hidden prompt so they stay
out of shell history.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from settings import Settings, get_settings
from warehouse import sync_runs, tenants
from warehouse.app_db import migrate, session_factory
from warehouse.models import LOCALES, MARKETPLACES, TENANT_STATUSES, TIERS
from warehouse.vault import CredentialVault, VaultError, generate_key

F = TypeVar("F", bound=Callable[..., Any])
MARKETPLACE = click.Choice(MARKETPLACES)
ORDERS_WINDOW = click.Choice(["7", "14", "30"])


def register(main: click.Group) -> None:
    for group in (tenants_group, credentials_group, keys_group):
        main.add_command(group)


# --- plumbing ----------------------------------------------------------------------------------


def _expected_errors(command: F) -> F:
    """Turn the failures an operator can fix into a one-line message and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise
        except ValidationError as exc:  # settings from the environment
            raise click.ClickException(f"invalid settings: {_first_line(exc)}") from None
        except SQLAlchemyError as exc:
            raise click.ClickException(
                f"app database: {_first_line(getattr(exc, 'orig', None) or exc)}"
            ) from None
        except LookupError as exc:
            raise click.ClickException(str(exc.args[0]) if exc.args else str(exc)) from None
        except (ValueError, VaultError, OSError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _first_line(exc: object) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@dataclass
class _App:
    settings: Settings
    sessions: sessionmaker[Session]

    def vault(self) -> CredentialVault:
        return CredentialVault(self.settings.fernet_keys)

    def urls(self) -> dict[str, str]:
        s = self.settings
        return {
            "wb_content": s.wb_content_url,
            "wb_analytics": s.wb_analytics_url,
            "wb_statistics": s.wb_statistics_url,
            "wb_marketplace": s.wb_marketplace_url,
            "wb_common": s.wb_common_url,
            "ozon": s.ozon_url,
        }


def _open() -> _App:
    settings = get_settings()
    migrate(settings.app_database_url)
    return _App(settings, session_factory(settings.app_database_url))


def _console() -> Console:
    console = Console()
    # Piped output (scripts, tests) gets full rows instead of an 80-column wrap.
    return console if console.is_terminal else Console(width=200)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _require_tenant(session: Session, tenant_id: str) -> None:
    tenant = tenants.get_tenant(session, tenant_id)
    if tenant is None or tenant.status == "deleted":
        raise click.ClickException(f"no tenant {tenant_id!r}; `stock-tracker tenants list` shows them")


# --- tenants -----------------------------------------------------------------------------------


@click.group("tenants")
def tenants_group() -> None:
    """Seller accounts: create, list, change plan and settings."""


@tenants_group.command("create")
@click.argument("tenant_id", metavar="ID")
@click.option("--name", required=True, help="Seller display name.")
@click.option("--tier", type=click.Choice(TIERS), default="starter", show_default=True)
@click.option("--locale", type=click.Choice(LOCALES), default="ru", show_default=True)
@click.option("--timezone", default="Europe/Moscow", show_default=True)
@click.option("--orders-window", type=ORDERS_WINDOW, default="7", show_default=True, help="Days.")
@click.option("--low-stock-days", type=int, default=14, show_default=True)
@click.option("--spreadsheet-id", help="Google Sheets id or URL.")
@click.option("--telegram-chat-id", help="Chat for sync reports and alerts.")
@_expected_errors
def tenants_create(
    tenant_id: str,
    name: str,
    tier: str,
    locale: str,
    timezone: str,
    orders_window: str,
    low_stock_days: int,
    spreadsheet_id: str | None,
    telegram_chat_id: str | None,
) -> None:
    """Create tenant ID (a slug: lowercase letters, digits, hyphens)."""
    app = _open()
    with app.sessions() as session:
        tenant = tenants.create_tenant(
            session,
            tenant_id,
            name,
            tier,
            locale=locale,
            timezone=timezone,
            orders_window_days=int(orders_window),
            low_stock_days=low_stock_days,
            spreadsheet_id=spreadsheet_id,
            telegram_chat_id=telegram_chat_id,
        )
    click.echo(f"Created tenant {tenant.id} ({tenant.name}, {tenant.tier}).")
    click.echo(f"Next: stock-tracker credentials set {tenant.id} wildberries --token-env WB_TOKEN")


@tenants_group.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted tenants.")
@_expected_errors
def tenants_list(include_deleted: bool) -> None:
    """Tenants with their plan, connected marketplaces and last sync."""
    app = _open()
    table = Table("id", "name", "tier", "status", "marketplaces", "last sync")
    with app.sessions() as session:
        for tenant in tenants.list_tenants(session, include_deleted=include_deleted):
            keys = tenants.credential_status(session, tenant.id)
            last = sync_runs.recent_sync_runs(session, tenant.id, limit=1)
            table.add_row(
                tenant.id,
                tenant.name,
                tenant.tier,
                tenant.status,
                ", ".join(f"{k.marketplace} ({k.status})" for k in keys) or "—",
                f"{last[0].status} {_when(last[0].finished_at or last[0].started_at)}" if last else "never",
            )
    if table.row_count == 0:
        click.echo("No tenants yet: stock-tracker tenants create ID --name NAME")
        return
    _console().print(table)


@tenants_group.command("update")
@click.argument("tenant_id", metavar="ID")
@click.option("--name")
@click.option("--tier", type=click.Choice(TIERS))
@click.option("--status", type=click.Choice(TENANT_STATUSES), help="`deleted` also erases stored keys.")
@click.option("--locale", type=click.Choice(LOCALES))
@click.option("--timezone")
@click.option("--orders-window", "orders_window_days", type=ORDERS_WINDOW, help="Days.")
@click.option("--low-stock-days", type=int)
@click.option("--spreadsheet-id", help="Google Sheets id or URL; empty to unset.")
@click.option("--telegram-chat-id", help="Empty to unset.")
@_expected_errors
def tenants_update(tenant_id: str, tier: str | None, status: str | None, **given: Any) -> None:
    """Change a tenant's plan, status or settings (only the options given)."""
    changes = {k: v for k, v in given.items() if v is not None}
    if not (changes or tier or status):
        raise click.UsageError("nothing to change; give at least one option")
    app = _open()
    with app.sessions() as session:
        _require_tenant(session, tenant_id)
        if changes:
            tenants.update_settings(session, tenant_id, **changes)
        if tier:
            tenants.set_tier(session, tenant_id, tier)
        if status:
            tenants.set_status(session, tenant_id, status)
    click.echo(f"Updated tenant {tenant_id}.")


# --- marketplace credentials -------------------------------------------------------------------


@click.group("credentials")
def credentials_group() -> None:
    """Tenants' marketplace API keys, stored encrypted; only fingerprints are ever shown."""


def _secret(label: str, value: str | None, env_var: str | None, option: str) -> str:
    if value and env_var:
        raise click.UsageError(f"give {option} or {option}-env, not both")
    if env_var:
        from_env = os.environ.get(env_var, "").strip()
        if not from_env:
            raise click.ClickException(f"environment variable {env_var} is not set or empty")
        return from_env
    if value:
        return value
    return str(click.prompt(label, hide_input=True))


@credentials_group.command("set")
@click.argument("tenant_id", metavar="TENANT")
@click.argument("marketplace", type=MARKETPLACE)
@click.option("--token", help="WB API token (prefer --token-env or the prompt: kept out of shell history).")
@click.option("--token-env", metavar="VAR", help="Read the WB token from this environment variable.")
@click.option("--client-id", help="Ozon Client-Id.")
@click.option("--api-key", help="Ozon Api-Key (prefer --api-key-env or the prompt).")
@click.option("--api-key-env", metavar="VAR", help="Read the Ozon Api-Key from this environment variable.")
@_expected_errors
def credentials_set(
    tenant_id: str,
    marketplace: str,
    token: str | None,
    token_env: str | None,
    client_id: str | None,
    api_key: str | None,
    api_key_env: str | None,
) -> None:
    """Check a key with the marketplace and, if it is accepted, store it encrypted."""
    from pipelines.checks import MarketplaceUnavailable, check_credentials

    if marketplace == "wildberries":
        if client_id or api_key or api_key_env:
            raise click.UsageError("wildberries takes --token / --token-env, not Ozon's options")
    elif token or token_env:
        raise click.UsageError("ozon takes --client-id and --api-key / --api-key-env, not --token")
    app = _open()
    vault = app.vault()  # a broken key list fails here, before any outside call
    with app.sessions() as session:
        _require_tenant(session, tenant_id)
    if marketplace == "wildberries":
        fields = {"token": _secret("WB API token", token, token_env, "--token")}
    else:
        fields = {
            "client_id": client_id or str(click.prompt("Ozon Client-Id")),
            "api_key": _secret("Ozon Api-Key", api_key, api_key_env, "--api-key"),
        }
    try:
        result = check_credentials(marketplace, fields, app.urls(), app.settings.marketplace_time_scale)
    except MarketplaceUnavailable as exc:
        raise click.ClickException(f"{exc}; nothing was stored") from None
    if not result.ok:
        raise click.ClickException(f"{result.message}; nothing was stored")
    with app.sessions() as session:
        stored = tenants.store_credentials(
            session,
            vault,
            tenant_id,
            marketplace,
            fields,
            status="valid",
            message=result.message,
            expires_at=result.expires_at,
        )
    expiry = f", expires {_when(stored.expires_at)}" if stored.expires_at else ""
    click.echo(f"{result.message}. Stored {marketplace} key {stored.fingerprint} for {tenant_id}{expiry}.")


@credentials_group.command("list")
@click.argument("tenant_id", metavar="TENANT")
@_expected_errors
def credentials_list(tenant_id: str) -> None:
    """A tenant's stored keys: fingerprint, last check, expiry."""
    app = _open()
    with app.sessions() as session:
        _require_tenant(session, tenant_id)
        stored = tenants.credential_status(session, tenant_id)
    if not stored:
        click.echo(f"{tenant_id} has no marketplace keys yet.")
        return
    table = Table("marketplace", "fingerprint", "status", "checked", "expires", "message")
    for key in stored:
        table.add_row(
            key.marketplace,
            key.fingerprint,
            key.status,
            _when(key.last_checked_at),
            _when(key.expires_at),
            key.check_message or "",
        )
    _console().print(table)


@credentials_group.command("check")
@click.argument("tenant_id", metavar="TENANT")
@click.argument("marketplace", type=MARKETPLACE, required=False)
@_expected_errors
def credentials_check(tenant_id: str, marketplace: str | None) -> None:
    """Re-check stored keys with their marketplaces and record the outcome."""
    from pipelines.checks import MarketplaceUnavailable, check_credentials

    app = _open()
    vault = app.vault()
    with app.sessions() as session:
        _require_tenant(session, tenant_id)
        keys = tenants.load_credentials(session, vault, tenant_id)
        prints = {k.marketplace: k.fingerprint for k in tenants.credential_status(session, tenant_id)}
    if marketplace:
        if marketplace not in keys:
            raise click.ClickException(f"{tenant_id} has no {marketplace} key")
        keys = {marketplace: keys[marketplace]}
    if not keys:
        raise click.ClickException(f"{tenant_id} has no marketplace keys to check")
    problems = 0
    table = Table("marketplace", "fingerprint", "result", "message")
    for name, fields in keys.items():
        try:
            result = check_credentials(name, fields, app.urls(), app.settings.marketplace_time_scale)
        except MarketplaceUnavailable as exc:
            # No answer is not a refusal: the stored status stays as it was.
            problems += 1
            table.add_row(name, prints[name], "unreachable", str(exc))
            continue
        with app.sessions() as session:
            tenants.mark_checked(
                session, tenant_id, name, status="valid" if result.ok else "invalid", message=result.message
            )
        problems += not result.ok
        table.add_row(name, prints[name], "valid" if result.ok else "invalid", result.message)
    _console().print(table)
    if problems:
        raise click.ClickException(f"{problems} of {len(keys)} key(s) not accepted")


@credentials_group.command("delete")
@click.argument("tenant_id", metavar="TENANT")
@click.argument("marketplace", type=MARKETPLACE)
@_expected_errors
def credentials_delete(tenant_id: str, marketplace: str) -> None:
    """Erase a tenant's key for one marketplace (its sync stops using that marketplace)."""
    app = _open()
    with app.sessions() as session:
        tenants.delete_credentials(session, tenant_id, marketplace)
    click.echo(f"Deleted the {marketplace} key of {tenant_id}.")


# --- encryption keys ---------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """The Fernet keys that encrypt stored marketplace keys."""


@keys_group.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key (a secret: put it first in STOCK_TRACKER_ENCRYPTION_KEYS)."""
    click.echo(generate_key())


@keys_group.command("rotate")
@click.option(
    "--new-key",
    is_flag=True,
    help="Embedded default only: generate a key, put it first in the local keys file, then re-encrypt.",
)
@_expected_errors
def keys_rotate(new_key: bool) -> None:
    """Re-encrypt every stored secret under the newest key.

    Put the new key first in STOCK_TRACKER_ENCRYPTION_KEYS and keep the old ones after it; once
    this has run, the old keys can be dropped.
    """
    settings = get_settings()
    if new_key:
        path = _add_local_key(settings)
        get_settings.cache_clear()  # the settings read above hold the old key list
        click.echo(f"Added a new key first in {path}; the old key(s) stay after it.")
    app = _open()
    vault = app.vault()
    with app.sessions() as session:
        count = tenants.rotate_keys(session, vault)
    click.echo(f"Re-encrypted {count} stored secret(s) under the newest of {vault.key_count} key(s).")
    if new_key:
        click.echo("Restart long-running processes (API, bot, Dagster daemon) so they read the new key.")


def _add_local_key(settings: Settings) -> Path:
    """Prepend a fresh key to the embedded default's keys file (mode 0600); return its path."""
    path = settings.home / "secrets" / "fernet.keys"
    from_file = path.read_text().strip() if path.exists() else None
    if settings.environment == "production" or from_file != settings.encryption_keys.strip():
        raise click.ClickException(
            "the keys come from STOCK_TRACKER_ENCRYPTION_KEYS, not the local keys file: put a new key "
            "(`stock-tracker keys generate`) first there, keep the old ones after it, and run `keys rotate`"
        )
    CredentialVault(settings.fernet_keys)  # refuse to build on a broken file
    keys = [generate_key(), *settings.fernet_keys]
    # The file is written before any secret is re-encrypted: if rotation fails half-way, every
    # secret is still readable with the keys on disk.
    scratch = path.with_name(path.name + ".new")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(",".join(keys) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(scratch, path)
    os.chmod(path, 0o600)
    return path

"""`stock-tracker sync` and `stock-tracker demo`: tenant syncs through the Dagster job, in-process,
recorded in the local Dagster instance so the runs show in the UI (`make dev`)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from settings import Settings, get_settings

DEMO_TIME_SCALE = 60.0  # the demo's sandbox runs WB/Ozon limits 60× faster (1 order-feed page/s)
DEMO_SERVICE_ACCOUNT = "stock-tracker@demo-project.iam.gserviceaccount.com"
console = Console(stderr=True)


@dataclass(frozen=True)
class TenantSummary:
    tenant: str
    name: str
    marketplaces: str
    products: int
    warehouses: int
    units: int
    seconds: float
    status: str


def _sync_one(settings: Settings, tenant_id: str, trigger: str) -> TenantSummary:
    from assets.runs import SyncAlreadyRunning, local_instance, run_sync
    from definitions import build_definitions
    from warehouse.app_db import migrate, session_factory
    from warehouse.mart import Mart
    from warehouse.tenants import active_tenants

    migrate(settings.app_database_url)
    with session_factory(settings.app_database_url)() as session:
        tenant = next((t for t in active_tenants(session) if t.id == tenant_id), None)
    if tenant is None:
        raise click.ClickException(f"no active tenant {tenant_id!r} (see `stock-tracker tenants list`)")
    if not tenant.marketplaces:
        raise click.ClickException(
            f"tenant {tenant_id!r} has no marketplace keys: `stock-tracker credentials set`"
        )
    started = time.perf_counter()
    with console.status(f"Syncing {tenant.id} ({', '.join(tenant.marketplaces)}, {tenant.tier} tier)…"):
        try:
            outcome = run_sync(build_definitions(settings), local_instance(settings.home), tenant, trigger)
        except SyncAlreadyRunning as exc:
            raise click.ClickException(str(exc)) from None
    seconds = time.perf_counter() - started
    mart = Mart(settings.warehouse_url.replace("{tenant}", tenant.id), tenant.id)
    try:
        mart.ensure_schema()
        counts = mart.snapshot_counts()
    finally:
        mart.close()
    status = "ok" if outcome.success else f"failed: {outcome.error}"
    labels = {"wildberries": "WB", "ozon": "Ozon"}
    marketplaces = " + ".join(labels[m] for m in ("wildberries", "ozon") if m in tenant.marketplaces)
    return TenantSummary(
        tenant.id,
        tenant.name,
        marketplaces,
        counts.products,
        counts.warehouses,
        counts.units,
        seconds,
        status,
    )


def _print(summaries: list[TenantSummary]) -> None:
    table = Table(title="Stock Tracker: sync summary")
    for column in ("tenant", "marketplaces", "products", "warehouses", "stock, units", "seconds", "status"):
        table.add_column(
            column,
            justify="right" if column in ("products", "warehouses", "stock, units", "seconds") else "left",
        )
    for s in summaries:
        table.add_row(
            s.tenant,
            s.marketplaces,
            str(s.products),
            str(s.warehouses),
            f"{s.units:,}".replace(",", " "),
            f"{s.seconds:.1f}",
            s.status,
        )
    Console(width=max(120, Console().width)).print(table)


@click.command("sync")
@click.option("--tenant", "tenant_id", required=True, help="Tenant id (see `stock-tracker tenants list`).")
def sync_command(tenant_id: str) -> None:
    """Run one sync of the tenant's current partition (tenant × its tier), with progress."""
    summary = _sync_one(get_settings(), tenant_id, "cli")
    _print([summary])
    if summary.status != "ok":
        raise SystemExit(1)


def slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "tenant"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base[:36]}-{n}", n + 1
    return candidate


def _demo_spreadsheet(server: Any, tenant_id: str) -> str:
    """A spreadsheet in the sandbox's Google Sheets shared with the demo service account, with a
    worksheet of the seller's own that the product must leave alone."""
    import requests

    spreadsheet_id = f"demo-{tenant_id}"
    requests.post(
        f"{server.control_url}/sheets/spreadsheets",
        timeout=10,
        json={
            "id": spreadsheet_id,
            "title": f"{tenant_id}: остатки",
            "editors": [DEMO_SERVICE_ACCOUNT],
            "sheets": [{"title": "Заметки продавца", "rows": [["Этот лист Stock Tracker не трогает"]]}],
        },
    ).raise_for_status()
    return spreadsheet_id


def run_demo(scenario: dict[str, Any] | None, out: Path | None) -> list[TenantSummary]:
    from pipelines.checks import check_credentials
    from sandbox.generate import generate_scenario
    from sandbox.server import SandboxServer
    from warehouse.app_db import migrate, session_factory
    from warehouse.tenants import create_tenant, get_tenant, list_tenants, store_credentials, update_settings
    from warehouse.vault import CredentialVault

    scenario = scenario or generate_scenario(sellers=2, skus=300, warehouses=30, days=30, seed=1)
    base = get_settings()
    if out is not None:
        base = base.model_copy(update={"output_dir": out})
    with SandboxServer(scenario, time_scale=DEMO_TIME_SCALE) as server:  # type: ignore[arg-type]
        settings = base.model_copy(
            update={
                "marketplace_time_scale": DEMO_TIME_SCALE,
                "google_service_account_email": DEMO_SERVICE_ACCOUNT,
            }
        ).sandbox_urls(server.urls)
        migrate(settings.app_database_url)
        vault = CredentialVault(settings.fernet_keys)
        tenant_of: dict[str, str] = {}
        with session_factory(settings.app_database_url)() as session:
            taken = {t.id for t in list_tenants(session, include_deleted=True)}
            for seller in scenario["sellers"]:
                name = seller["name"]
                if name not in tenant_of:
                    existing = slug(name, set()) if get_tenant(session, slug(name, set())) else None
                    tenant_of[name] = existing or slug(name, taken)
                    taken.add(tenant_of[name])
                    if not existing:
                        create_tenant(session, tenant_of[name], name)
                check = check_credentials(
                    seller["marketplace"], seller["credentials"], server.urls, DEMO_TIME_SCALE
                )
                if not check.ok:
                    raise click.ClickException(
                        f"{name}: the sandbox refused the scenario's key: {check.message}"
                    )
                store_credentials(
                    session,
                    vault,
                    tenant_of[name],
                    seller["marketplace"],
                    seller["credentials"],
                    status="valid",
                    expires_at=check.expires_at,
                )
            for tenant_id in dict.fromkeys(tenant_of.values()):
                update_settings(session, tenant_id, spreadsheet_id=_demo_spreadsheet(server, tenant_id))
        console.print(
            f"Sandbox marketplaces at {server.urls['wb_content'].rsplit('/', 1)[0]} "
            f"(limits ×{DEMO_TIME_SCALE:g}); {len(tenant_of)} tenants"
        )
        summaries = [_sync_one(settings, tenant, "demo") for tenant in dict.fromkeys(tenant_of.values())]
    _print(summaries)
    return summaries

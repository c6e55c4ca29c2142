"""`stock-tracker sync`: tenant syncs through the Dagster job, in this process, recorded in the
local Dagster instance so the runs show in the UI (`make dev`). The demo syncs the same way.

The console shows a bar per tenant and stage and then a summary; Dagster's event log goes to a
file under `home/logs/`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from settings import Settings, get_settings

if TYPE_CHECKING:
    from warehouse.tenants import TenantInfo

console = Console(stderr=True)  # progress and notes; the report itself goes to stdout


def report_console() -> Console:
    out = Console()
    # Piped output (CI logs, scripts) gets whole rows instead of an 80-column wrap.
    return out if out.is_terminal else Console(width=160)


# Since 2026-08-15 WB reports most of its own warehouses as one aggregate (DESIGN §4).
WB_MODE_LABELS = {"aggregated": "WB (aggregated, as since 2026-08-15)", "detailed": "WB (detailed)"}


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
    files: tuple[Path, ...] = ()


def marketplace_label(marketplaces: tuple[str, ...] | list[str], wb_mode: str | None = None) -> str:
    """`WB + Ozon`; with the WB warehouse mode the seller is served in, when it is known."""
    labels = {"wildberries": WB_MODE_LABELS.get(wb_mode or "", "WB"), "ozon": "Ozon"}
    return " + ".join(labels[m] for m in ("wildberries", "ozon") if m in marketplaces)


def log_file(settings: Settings, command: str) -> Path:
    """Where this command's Dagster event log goes: `home/logs/<command>-<local time>.log`."""
    return settings.home / "logs" / f"{command}-{datetime.now():%Y%m%d-%H%M%S}.log"


def sync_tenants(
    settings: Settings,
    tenant_ids: list[str],
    trigger: str,
    log_path: Path,
    wb_modes: dict[str, str] | None = None,
) -> list[TenantSummary]:
    """One sync per tenant, one after the other, with a bar per tenant and stage."""
    from assets.jobs import sync_selection
    from assets.runs import SyncAlreadyRunning, local_instance, run_sync
    from cli.progress import SyncProgress, steps_by_stage
    from definitions import build_definitions
    from warehouse.app_db import migrate, session_factory
    from warehouse.tenants import active_tenants

    migrate(settings.app_database_url)
    with session_factory(settings.app_database_url)() as session:
        active = {t.id: t for t in active_tenants(session)}
    for tenant_id in tenant_ids:
        tenant = active.get(tenant_id)
        if tenant is None:
            raise click.ClickException(f"no active tenant {tenant_id!r} (see `stock-tracker tenants list`)")
        if not tenant.marketplaces:
            raise click.ClickException(
                f"tenant {tenant_id!r} has no marketplace keys: `stock-tracker credentials set`"
            )
    defs = build_definitions(settings)
    instance = local_instance(settings.home)
    summaries = []
    with SyncProgress(console, log_path) as progress:
        watches = {
            t: progress.watch(t, steps_by_stage(defs, sync_selection(active[t].marketplaces)))
            for t in tenant_ids
        }
        for tenant_id in tenant_ids:
            tenant, watch = active[tenant_id], watches[tenant_id]
            started = time.perf_counter()
            try:
                outcome = run_sync(defs, instance, tenant, trigger, on_event=watch.on_event)
            except SyncAlreadyRunning as exc:
                raise click.ClickException(str(exc)) from None
            finally:
                watch.finish()
            summaries.append(
                _summary(
                    settings,
                    tenant,
                    time.perf_counter() - started,
                    None if outcome.success else outcome.error or "the run failed",
                    marketplace_label(tenant.marketplaces, (wb_modes or {}).get(tenant.id)),
                    _files(watch.files_folder),
                )
            )
    return summaries


def _summary(
    settings: Settings,
    tenant: TenantInfo,
    seconds: float,
    error: str | None,
    marketplaces: str,
    files: tuple[Path, ...],
) -> TenantSummary:
    from warehouse.mart import Mart

    mart = Mart(settings.warehouse_url.replace("{tenant}", tenant.id), tenant.id)
    try:
        mart.ensure_schema()
        counts = mart.snapshot_counts()
    finally:
        mart.close()
    return TenantSummary(
        tenant.id,
        tenant.name,
        marketplaces,
        counts.catalogue_products,
        counts.warehouses,
        counts.units,
        seconds,
        "ok" if error is None else f"failed: {error}",
        files,
    )


def _files(folder: Path | None) -> tuple[Path, ...]:
    """The sheet files the run wrote (the folder comes from the `sheet_files` materialization)."""
    if folder is None or not folder.is_dir():
        return ()
    return tuple(sorted(folder.glob("*.xlsx")) + sorted(folder.glob("*.csv")))


def print_summary(summaries: list[TenantSummary], out: Console) -> None:
    table = Table(title="Stock Tracker: sync summary")
    numeric = ("products", "warehouses", "stock, units", "seconds")
    for column in ("tenant", "marketplaces", *numeric, "status"):
        table.add_column(column, justify="right" if column in numeric else "left")
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
    out.print(table)


def shown(path: Path) -> str:
    """A path as short as it can be said: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@click.command("sync")
@click.option("--tenant", "tenant_id", required=True, help="Tenant id (see `stock-tracker tenants list`).")
def sync_command(tenant_id: str) -> None:
    """Run one sync of the tenant's current partition (tenant × its tier), with progress."""
    settings = get_settings()
    log_path = log_file(settings, "sync")
    [summary] = sync_tenants(settings, [tenant_id], "cli", log_path)
    out = report_console()
    print_summary([summary], out)
    out.print(f"Dagster event log: {shown(log_path)}", highlight=False)
    if summary.status != "ok":
        raise SystemExit(1)

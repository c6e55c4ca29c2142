"""`stock-tracker demo`: the product's main job against the sandbox marketplaces, in-process.

Every seller of the scenario becomes a tenant with its keys stored encrypted, gets one full sync
through the Dagster job, and its sheet as `DIR/<seller>/stock.xlsx` and `DIR/<seller>/<marketplace>.csv`
(DESIGN §3). The console shows progress, the summary, the files and what to run next.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from cli.billing import CHECKOUT_HINT, setup_sandbox_billing
from cli.demo_telegram import demo_bot_token, link_demo_chats, write_chat_log
from cli.sandbox import load_scenario_option
from cli.sync import console, log_file, print_summary, report_console, shown, sync_tenants
from settings import get_settings

DEMO_TIME_SCALE = 60.0  # the demo's sandbox runs WB/Ozon limits 60× faster (1 order-feed page/s)
DEMO_SERVICE_ACCOUNT = "stock-tracker@demo-project.iam.gserviceaccount.com"


def demo_scenario() -> dict[str, Any]:
    """The scenario of `demo` and `dev` (same seed, so `dev` accepts the keys `demo` stored).

    WB sellers see WB both ways it reports today: the first one in the `aggregated` mode (WB's own
    warehouses as `Склад WB`, since 2026-08-15), the other in `detailed`.
    """
    from sandbox.generate import generate_scenario

    scenario = generate_scenario(sellers=2, skus=300, warehouses=30, days=30, seed=1)
    wb_sellers = [s for s in scenario["sellers"] if s["marketplace"] == "wildberries"]
    for index, seller in enumerate(wb_sellers):
        seller["wb_warehouse_mode"] = "aggregated" if index == 0 else "detailed"
    return scenario


def wb_mode_of(scenario: dict[str, Any], seller: dict[str, Any]) -> str:
    """The WB warehouse mode a seller is served in: its own key, else the scenario's (DESIGN §5)."""
    return str(seller.get("wb_warehouse_mode") or scenario.get("wb_warehouse_mode") or "detailed")


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


def run_demo(scenario: dict[str, Any] | None, out: Path | None) -> bool:
    """Run the demo and print its report; True when every tenant's sync succeeded."""
    from assets.sheet import SheetFiles
    from pipelines.checks import check_credentials
    from sandbox.server import SandboxServer
    from warehouse.app_db import migrate, session_factory
    from warehouse.plans import PLANS
    from warehouse.tenants import create_tenant, get_tenant, list_tenants, store_credentials, update_settings
    from warehouse.vault import CredentialVault

    scenario = scenario or demo_scenario()
    base = get_settings()
    if out is not None:
        base = base.model_copy(update={"output_dir": out})
    log_path = log_file(base, "demo")
    telegram_logs: list[tuple[str, Path, int, int]] = []
    with (
        SandboxServer(scenario, time_scale=DEMO_TIME_SCALE) as server,  # type: ignore[arg-type]
        demo_bot_token() as bot_token,
    ):
        settings = base.model_copy(
            update={
                "marketplace_time_scale": DEMO_TIME_SCALE,
                "google_service_account_email": DEMO_SERVICE_ACCOUNT,
                "telegram_bot_token": bot_token,
            }
        ).sandbox_urls(server.urls)
        migrate(settings.app_database_url)
        # `billing setup` against the sandbox's Stripe, which records every event it makes (no API
        # runs during the demo to forward them to; `make dev` forwards them to its API).
        plans = setup_sandbox_billing(server.urls["stripe"])
        vault = CredentialVault(settings.fernet_keys)
        tenant_of: dict[str, str] = {}
        wb_modes: dict[str, str] = {}
        with session_factory(settings.app_database_url)() as session:
            taken = {t.id for t in list_tenants(session, include_deleted=True)}
            for seller in scenario["sellers"]:
                name = seller["name"]
                if name not in tenant_of:
                    existing = slug(name, set()) if get_tenant(session, slug(name, set())) else None
                    tenant_of[name] = existing or slug(name, taken)
                    taken.add(tenant_of[name])
                    if not existing:
                        # Enterprise: its plan covers every product and marketplace of any scenario, so
                        # the demo's files show the whole catalogue (starter would cut them to 100).
                        create_tenant(session, tenant_of[name], name, tier="enterprise")
                if seller["marketplace"] == "wildberries":
                    wb_modes[tenant_of[name]] = wb_mode_of(scenario, seller)
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
            names = {tenant_of[s["name"]]: s["name"] for s in scenario["sellers"]}
            chats = link_demo_chats(server.control_url, session, names)
        console.print(
            f"Sandbox marketplaces at {server.urls['wb_content'].rsplit('/', 1)[0]} "
            f"(limits ×{DEMO_TIME_SCALE:g}); syncing {len(set(tenant_of.values()))} tenants"
        )
        prices = ", ".join(f"{p.tier} ${PLANS[p.tier].price_usd}" for p in plans)
        console.print(
            f"Stripe sandbox at {server.urls['stripe']}: plans set up ({prices})",
            highlight=False,
            soft_wrap=True,
        )
        tenant_ids = list(dict.fromkeys(tenant_of.values()))
        summaries = sync_tenants(settings, tenant_ids, "demo", log_path, wb_modes)
        files_of = SheetFiles(out_dir=str(settings.output_dir))
        for tenant_id, chat in chats.items():
            folder = files_of.folder(names[tenant_id]) / "telegram"
            telegram_logs.append((names[tenant_id], *write_chat_log(server.control_url, chat, folder)))
    out = report_console()
    print_summary(summaries, out)
    files = [f for s in summaries for f in s.files]
    out.print("Files written:" if files else "[red]No files written.")
    for path in files:
        out.print(f"  {shown(path)}", highlight=False)
    for seller, path, calls, sent_files in telegram_logs:
        out.print(
            f"Telegram ({seller}): {shown(path)} — {calls} Bot API calls, {sent_files} files beside it",
            highlight=False,
        )
    out.print(f"Dagster event log: {shown(log_path)}", highlight=False)
    ok = all(s.status == "ok" for s in summaries)
    if ok:
        ui = base.dagster_graphql_url.removesuffix("/graphql")
        api = f"http://{base.api_host}:{base.api_port}"
        out.print("Next:")
        out.print(f"  make dev             Dagster UI with these runs: {ui}", highlight=False)
        out.print(f"  stock-tracker api    REST API: {api} (Swagger UI: {api}/docs)", highlight=False)
        out.print(f"  checkout locally     {CHECKOUT_HINT}", highlight=False)
    return ok


@click.command("demo")
@click.option(
    "--scenario", "scenario_path", type=click.Path(dir_okay=False), help="Scenario JSON (DESIGN §5)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where sheet files go (default .stock-tracker/out).",
)
def demo_command(scenario_path: str | None, out: Path | None) -> None:
    """Sandbox marketplaces in-process, every scenario seller as a tenant, one full sync each."""
    if not run_demo(load_scenario_option(scenario_path), out):
        raise click.ClickException("some syncs failed (status above; details in the Dagster event log)")

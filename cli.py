"""`stock-tracker`: the one command in front of every entry point (DESIGN §3)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from cli_api import register as register_api_commands
from cli_dev import dev_command
from cli_sync import sync_command
from cli_tenants import register as register_tenant_commands
from settings import get_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Stock Tracker: stock, orders and turnover for Wildberries and Ozon sellers."""


@main.group()
def sandbox() -> None:
    """Local stand-ins for the marketplace APIs (used by the demo, tests and benchmarks)."""


def _load(path: str | None) -> dict | None:
    from sandbox.scenario import ScenarioError, load_scenario

    if path is None:
        return None
    try:
        return dict(load_scenario(path))
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from None


@sandbox.command("serve")
@click.option(
    "--scenario", "scenario_path", type=click.Path(dir_okay=False), help="Scenario JSON (DESIGN §5)."
)
@click.option("--host", default=None, help="Interface to bind (default from settings: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port for every service (default 18555; 0 = any free).")
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Run rate limits and report delays this many times faster.",
)
def sandbox_serve(scenario_path: str | None, host: str | None, port: int | None, time_scale: float) -> None:
    """Serve all sandbox services on one port; the first stdout line is a JSON object of base URLs."""
    from sandbox.server import serve_forever

    settings = get_settings()
    if time_scale <= 0:
        raise click.BadParameter("must be positive", param_hint="--time-scale")
    scenario = _load(scenario_path)

    def announce(urls: str) -> None:
        click.echo(urls)
        sys.stdout.flush()
        click.echo(
            f"sandbox serving {len(scenario['sellers']) if scenario else 0} seller(s); Ctrl+C stops", err=True
        )

    try:
        serve_forever(
            scenario,
            host or settings.sandbox_host,
            settings.sandbox_port if port is None else port,
            time_scale,
            announce,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot serve on port {port}: {exc.strerror}") from None


@sandbox.command("generate")
@click.option("--sellers", type=click.IntRange(1, 1000), default=2, show_default=True)
@click.option(
    "--skus",
    type=click.IntRange(1, 200_000),
    default=1000,
    show_default=True,
    help="Products per seller and marketplace.",
)
@click.option(
    "--warehouses",
    type=click.IntRange(1, 200),
    default=40,
    show_default=True,
    help="WB warehouses (FBO) per seller.",
)
@click.option("--days", type=click.IntRange(1, 90), default=30, show_default=True, help="Days of orders.")
@click.option("--seed", type=int, default=1, show_default=True)
def sandbox_generate(sellers: int, skus: int, warehouses: int, days: int, seed: int) -> None:
    """Print a realistic, seeded scenario to stdout."""
    from sandbox.generate import generate_scenario

    scenario = generate_scenario(sellers=sellers, skus=skus, warehouses=warehouses, days=days, seed=seed)
    sys.stdout.buffer.write(orjson.dumps(scenario))
    sys.stdout.buffer.write(b"\n")


@sandbox.command("from-export")
@click.argument("export_csv", type=click.Path(exists=True, dir_okay=False))
def sandbox_from_export(export_csv: str) -> None:
    """Turn a WB cabinet stock-history export (CSV) into a one-seller scenario on stdout."""
    from sandbox.export import scenario_from_cabinet_export

    try:
        scenario = scenario_from_cabinet_export(Path(export_csv))
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"cannot read {export_csv}: {exc}") from None
    sys.stdout.buffer.write(orjson.dumps(scenario))
    sys.stdout.buffer.write(b"\n")


@main.command("demo")
@click.option(
    "--scenario", "scenario_path", type=click.Path(dir_okay=False), help="Scenario JSON (DESIGN §5)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where sheet files go (default .stock-tracker/out).",
)
def demo(scenario_path: str | None, out: Path | None) -> None:
    """Sandbox marketplaces in-process, every scenario seller as a tenant, one full sync each."""
    from cli_sync import run_demo

    summaries = run_demo(_load(scenario_path), out)
    if any(s.status != "ok" for s in summaries):
        raise SystemExit(1)


register_tenant_commands(main)
main.add_command(sync_command)
main.add_command(dev_command)
register_api_commands(main)

if __name__ == "__main__":
    main()

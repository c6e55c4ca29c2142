"""`stock-tracker sandbox`: the local stand-ins for the marketplace APIs (DESIGN §5)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import orjson

from settings import get_settings


def load_scenario_option(path: str | None) -> dict[str, Any] | None:
    """A `--scenario FILE` option's scenario, or a one-line error instead of a traceback."""
    from sandbox.scenario import ScenarioError, load_scenario

    if path is None:
        return None
    try:
        return dict(load_scenario(path))
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("sandbox")
def sandbox_group() -> None:
    """Local stand-ins for the marketplace APIs (used by the demo, tests and benchmarks)."""


@sandbox_group.command("serve")
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
@click.option(
    "--stripe-forward-to",
    default=None,
    metavar="URL",
    help="Deliver every Stripe event to URL, signed (like `stripe listen --forward-to`).",
)
def sandbox_serve(
    scenario_path: str | None,
    host: str | None,
    port: int | None,
    time_scale: float,
    stripe_forward_to: str | None,
) -> None:
    """Serve all sandbox services on one port; the first stdout line is a JSON object of base URLs."""
    from sandbox.server import serve_forever

    settings = get_settings()
    if time_scale <= 0:
        raise click.BadParameter("must be positive", param_hint="--time-scale")
    scenario = load_scenario_option(scenario_path)

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
            stripe_forward_to,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot serve on port {port}: {exc.strerror}") from None


@sandbox_group.command("generate")
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
@click.option(
    "--clock",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    default=None,
    help="The scenario's 'now' (Moscow time); default: now. Same seed and clock → the same file.",
)
def sandbox_generate(
    sellers: int, skus: int, warehouses: int, days: int, seed: int, clock: datetime | None
) -> None:
    """Print a realistic, seeded scenario to stdout."""
    from sandbox.generate import generate_scenario

    scenario = generate_scenario(
        sellers=sellers, skus=skus, warehouses=warehouses, days=days, seed=seed, clock=clock
    )
    sys.stdout.buffer.write(orjson.dumps(scenario))
    sys.stdout.buffer.write(b"\n")


@sandbox_group.command("from-export")
@click.argument("export_csv", type=click.Path(exists=True, dir_okay=False))
def sandbox_from_export(export_csv: str) -> None:
    """Turn a WB cabinet stock-history export (CSV) into a one-seller scenario on stdout."""
    from sandbox.export import ExportError, scenario_from_cabinet_export

    try:
        scenario = scenario_from_cabinet_export(Path(export_csv))
    except ExportError as exc:
        raise click.ClickException(f"{export_csv}: {exc}") from None
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {export_csv}: {exc}") from None
    sys.stdout.buffer.write(orjson.dumps(scenario))
    sys.stdout.buffer.write(b"\n")

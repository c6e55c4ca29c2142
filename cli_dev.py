"""`stock-tracker dev`: the Dagster UI (webserver + daemon) on the embedded default, with the
sandbox marketplaces serving the demo's scenario so schedules and re-runs work locally."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import orjson

from cli_sync import DEMO_TIME_SCALE
from settings import get_settings

REPO_ROOT = Path(__file__).resolve().parent


@click.command("dev")
@click.option("--port", type=int, default=3000, show_default=True, help="Dagster UI port.")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(dir_okay=False),
    help="Scenario for the sandbox (default: the demo's).",
)
def dev_command(port: int, scenario_path: str | None) -> None:
    """Dagster UI with the assets, tenant × tier partitions, schedules and the demo's runs."""
    from sandbox.generate import generate_scenario

    settings = get_settings()
    home = settings.home.resolve()
    scenario_file = Path(scenario_path) if scenario_path else home / "dev-scenario.json"
    if not scenario_path:
        home.mkdir(parents=True, exist_ok=True)
        # The demo's scenario (same seed): the tenants `make demo` stored keys for are accepted.
        scenario_file.write_bytes(
            orjson.dumps(generate_scenario(sellers=2, skus=300, warehouses=30, days=30, seed=1))
        )
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")

    cli = str(Path(sys.executable).with_name("stock-tracker"))
    sandbox = subprocess.Popen(
        [
            cli,
            "sandbox",
            "serve",
            "--scenario",
            str(scenario_file),
            "--port",
            str(settings.sandbox_port),
            "--time-scale",
            str(DEMO_TIME_SCALE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        urls = json.loads(sandbox.stdout.readline())
        env = {
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "STOCK_TRACKER_HOME": str(home),
            "STOCK_TRACKER_MARKETPLACE_TIME_SCALE": str(DEMO_TIME_SCALE),
            **{f"STOCK_TRACKER_{key.upper()}_URL": url for key, url in urls.items()},
        }
        click.echo(
            f"Sandbox marketplaces: {urls['wb_content'].rsplit('/', 1)[0]}; Dagster UI: http://127.0.0.1:{port}",
            err=True,
        )
        dagster = str(Path(sys.executable).with_name("dagster"))
        subprocess.run(
            [dagster, "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            cwd=REPO_ROOT,
            check=False,
        )
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

"""`stock-tracker dev`: the Dagster UI (webserver + daemon) on the embedded default, the REST API,
the Telegram bot and the sandbox marketplaces serving the demo's scenario, so schedules, re-runs,
API-launched syncs and the bot's commands work locally (DESIGN §3).

Each server runs in its own session (process group): a terminal's Ctrl-C reaches only this
command, which then stops every group itself — politely first, then by force after a few seconds.
`dagster dev` and its children ignore SIGTERM, so they get SIGINT, which they do handle.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

import click
import orjson

from cli.billing import SANDBOX_STRIPE_KEY, setup_sandbox_billing
from cli.demo import DEMO_TIME_SCALE, demo_scenario
from cli.demo_telegram import DEMO_BOT_NAME, DEMO_BOT_TOKEN, TOKEN_ENV
from settings import get_settings

GRACE_SECONDS = 5.0  # how long servers get to stop on their own before they are killed


class _Stop(Exception):
    """SIGINT or SIGTERM arrived."""


@dataclass
class _Server:
    name: str
    process: subprocess.Popen[bytes]
    stop_signal: int
    log: Path


def _start(
    name: str, args: list[str], env: dict[str, str], log: Path, stop_signal: int = signal.SIGTERM
) -> _Server:
    with log.open("ab") as handle:
        process = subprocess.Popen(
            args,
            env=env,
            stdout=subprocess.PIPE if name == "sandbox" else handle,
            stderr=handle,
            start_new_session=True,
        )
    return _Server(name, process, stop_signal, log)


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, start time) of every process, from Linux /proc (empty elsewhere)."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # The command name (field 2) may hold spaces and parentheses: parse after its last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its start time (a pid may be reused once it exits)."""
    table = _processes()
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, started) in table.items():
            if ppid == parent and child not in found:
                found[child] = started
                todo.append(child)
    return found


def _signal_group(server: _Server, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(server.process.pid, sig)


def stop_servers(servers: list[_Server], grace: float = GRACE_SECONDS) -> None:
    """Ask every server to stop, wait up to `grace` seconds, then kill whatever is left."""
    remembered = {p: t for s in servers for p, t in descendants(s.process.pid).items()}
    for server in servers:
        _signal_group(server, server.stop_signal)
    deadline = time.monotonic() + grace
    for server in servers:
        with suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for server in servers:
        _signal_group(server, signal.SIGKILL)
        server.process.wait()
    # A child that left its group (its own session) is still one of ours — if it is the same
    # process, not a newcomer that got its pid.
    now = _processes()
    for pid, started in remembered.items():
        if pid in now and now[pid][1] == started:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT/SIGTERM raise `_Stop` (also inside a blocking read); ignored while stopping."""

    def raise_stop(signum: int, _frame: FrameType | None) -> None:
        raise _Stop

    previous = {s: signal.signal(s, raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _first_line(stream: IO[bytes] | None) -> str:
    return stream.readline().decode() if stream is not None else ""


@click.command("dev")
@click.option("--port", type=int, default=3000, show_default=True, help="Dagster UI port.")
@click.option("--api-port", type=int, default=None, help="REST API port (default from settings: 8000).")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(dir_okay=False),
    help="Scenario for the sandbox (default: the demo's).",
)
def dev_command(port: int, api_port: int | None, scenario_path: str | None) -> None:
    """Dagster UI, REST API and sandbox marketplaces until Ctrl-C (or SIGTERM) stops them all."""
    from assets.instance_config import prepare_dagster_home

    settings = get_settings()
    home = settings.home.resolve()
    api_port = settings.api_port if api_port is None else api_port
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    scenario_file = Path(scenario_path) if scenario_path else home / "dev-scenario.json"
    if not scenario_path:
        scenario_file.write_bytes(orjson.dumps(demo_scenario()))
    dagster_home = prepare_dagster_home(home / "dagster")
    # definitions.py's folder: the checkout's root, or site-packages for an installed wheel.
    spec = importlib.util.find_spec("definitions")
    code_root = Path(spec.origin).parent if spec and spec.origin else Path.cwd()

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "STOCK_TRACKER_HOME": str(home)}
    servers: list[_Server] = []
    try:
        with _stop_on_signals():
            sandbox = _start(
                "sandbox",
                [
                    str(bin_dir / "stock-tracker"),
                    "sandbox",
                    "serve",
                    "--scenario",
                    str(scenario_file),
                    "--port",
                    str(settings.sandbox_port),
                    "--time-scale",
                    str(DEMO_TIME_SCALE),
                    # Stripe's events reach the API's webhook, signed, as `stripe listen` forwards them.
                    "--stripe-forward-to",
                    f"http://127.0.0.1:{api_port}/api/v1/billing/webhook",
                ],
                env,
                logs / "dev-sandbox.log",
            )
            servers.append(sandbox)
            first = _first_line(sandbox.process.stdout)
            if not first:
                raise click.ClickException(f"the sandbox did not start:\n{_tail(sandbox.log)}")
            urls = json.loads(first)
            env.update(_stripe_sandbox_env(urls, f"http://127.0.0.1:{api_port}"))
            env.update(
                {
                    "DAGSTER_HOME": str(dagster_home),
                    "STOCK_TRACKER_MARKETPLACE_TIME_SCALE": str(DEMO_TIME_SCALE),
                    "STOCK_TRACKER_DAGSTER_GRAPHQL_URL": f"http://127.0.0.1:{port}/graphql",
                    **{f"STOCK_TRACKER_{key.upper()}_URL": url for key, url in urls.items()},
                    # The API's link and webhook routes talk to the sandbox's Bot API.
                    **({"STOCK_TRACKER_TELEGRAM_API_URL": urls["telegram"]} if "telegram" in urls else {}),
                }
            )
            dagster = [str(bin_dir / "dagster"), "dev", "-m", "definitions", "-d", str(code_root)]
            servers.append(
                _start(
                    "Dagster",
                    [*dagster, "-h", "127.0.0.1", "-p", str(port)],
                    env,
                    logs / "dev-dagster.log",
                    stop_signal=signal.SIGINT,
                )
            )
            servers.append(
                _start(
                    "API",
                    [str(bin_dir / "stock-tracker"), "api", "--host", "127.0.0.1", "--port", str(api_port)],
                    env,
                    logs / "dev-api.log",
                )
            )
            bot = _sandbox_bot(env, urls)
            servers.append(_start("bot", [str(bin_dir / "stock-tracker"), "bot"], env, logs / "dev-bot.log"))
            api = f"http://127.0.0.1:{api_port}"
            click.echo(f"Sandbox marketplaces: {urls['wb_content'].rsplit('/', 1)[0]}")
            click.echo(f"Dagster UI:           http://127.0.0.1:{port}")
            click.echo(f"REST API:             {api} (Swagger UI: {api}/docs)")
            click.echo(
                f"Stripe sandbox:       {urls['stripe']} (checkout: POST card=4242424242424242 to a "
                "session's url; plans set up)"
            )
            click.echo(f"Telegram bot:         {bot}")
            click.echo(f"Logs:                 {logs}/dev-*.log. Ctrl-C stops everything.")
            while True:
                time.sleep(0.5)
                for server in servers:
                    if server.process.poll() is not None:
                        raise click.ClickException(
                            f"{server.name} stopped (exit {server.process.returncode}); "
                            f"the end of {server.log}:\n{_tail(server.log)}"
                        )
    except _Stop:
        click.echo("Stopping…", err=True)
    finally:
        stop_servers(servers)


def _sandbox_bot(env: dict[str, str], urls: dict[str, str]) -> str:
    """The bot talks to the sandbox's Bot API with the demo's token unless the operator set a
    token of their own (then it is theirs, and the sandbox still answers it). Returns a line for
    the operator: how to write to the bot."""
    token = env.setdefault(TOKEN_ENV, DEMO_BOT_TOKEN)
    control = urls["telegram"].rsplit("/", 1)[0] + "/_control"
    if token == DEMO_BOT_TOKEN:
        from sandbox.telegram.control import TelegramControl

        TelegramControl(control, token).name_bot(DEMO_BOT_NAME)
    return (
        f"@{DEMO_BOT_NAME} in the sandbox; write to it: POST {control}/telegram/messages "
        '{"chat": {"id": 1, "type": "private"}, "from": {"id": 1}, "text": "/start"}'
    )


def _stripe_sandbox_env(urls: dict[str, str], api: str) -> dict[str, str]:
    """Billing against the sandbox's Stripe: its URL and webhook secret, a test key, the plans'
    prices created (`stock-tracker billing setup`), checkout returning to the local API."""
    secret = urls.pop("stripe_webhook_secret", "")
    setup_sandbox_billing(urls["stripe"])
    return {
        "STOCK_TRACKER_STRIPE_API_URL": urls["stripe"],
        "STOCK_TRACKER_STRIPE_SECRET_KEY": SANDBOX_STRIPE_KEY,
        "STOCK_TRACKER_STRIPE_WEBHOOK_SECRET": secret,
        "STOCK_TRACKER_PUBLIC_URL": api,
    }

"""`stock-tracker api`: serve the REST API (Swagger UI at /docs) with uvicorn.

The app database is brought to the newest schema first (idempotent, locked on PostgreSQL, so
replicas starting together are safe), as the template's pre-start step does.
"""

from __future__ import annotations

import os

import click

from settings import get_settings


@click.command("api")
@click.option("--host", default=None, help="Interface to bind (default from settings: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from settings: 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes.")
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning"])
)
@click.option(
    "--proxy-headers/--no-proxy-headers",
    default=False,
    show_default=True,
    help="Trust X-Forwarded-For/-Proto from the proxy in front (set FORWARDED_ALLOW_IPS to its address).",
)
def api_command(
    host: str | None, port: int | None, workers: int, log_level: str, proxy_headers: bool
) -> None:
    """Serve the REST API: auth, tenant settings, marketplace keys, stock, sync control, health, metrics."""
    import uvicorn

    from api.logs import configure
    from warehouse.app_db import migrate

    settings = get_settings()
    configure(log_level.upper())
    os.environ["STOCK_TRACKER_API_LOG_LEVEL"] = log_level.upper()  # for every worker's served_app()
    migrate(settings.app_database_url)
    host = host or settings.api_host
    port = settings.api_port if port is None else port
    click.echo(f"Stock Tracker API on http://{host}:{port} (Swagger UI: /docs)", err=True)
    uvicorn.run(
        "api.main:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,  # served_app() sets up JSON lines
        access_log=False,  # the app logs each request itself, with its route template
        proxy_headers=proxy_headers,
        server_header=False,
    )

"""`stock-tracker`: the one command in front of every entry point (DESIGN §3).

One module per command group; this one only gathers them.
"""

from __future__ import annotations

import click

from cli.api import api_command
from cli.billing import billing_group
from cli.bot import bot_command
from cli.demo import demo_command
from cli.dev import dev_command
from cli.sandbox import sandbox_group
from cli.sync import sync_command
from cli.tenants import register as register_tenant_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Stock Tracker: stock, orders and turnover for Wildberries and Ozon sellers."""


main.add_command(sandbox_group)
main.add_command(demo_command)
register_tenant_commands(main)
main.add_command(sync_command)
main.add_command(dev_command)
main.add_command(api_command)
main.add_command(billing_group)
main.add_command(bot_command)

if __name__ == "__main__":
    main()

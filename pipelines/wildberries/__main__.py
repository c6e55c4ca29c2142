"""Debug entry point: `python -m pipelines.wildberries --token T --destination URL [--urls JSON]`.

Runs the Wildberries source for one seller without Dagster and prints what it loaded.
"""

from __future__ import annotations

import sys

from pipelines.debug_cli import debug_parser, run_debug, sandbox_urls
from pipelines.wildberries import wildberries_source
from pipelines.wildberries.helpers import WbUrls


def main(argv: list[str] | None = None) -> int:
    parser = debug_parser("wildberries", __doc__)
    parser.add_argument("--token", required=True, help="WB API token (categories: Content, Analytics, …)")
    args = parser.parse_args(argv)
    urls = WbUrls.from_sandbox(given) if (given := sandbox_urls(args)) else WbUrls()
    return run_debug(
        "wildberries",
        args,
        lambda a, at, policy: wildberries_source(a.token, a.tenant, at, urls, a.orders_days, policy),
    )


if __name__ == "__main__":
    sys.exit(main())

"""Debug entry point: `python -m pipelines.ozon --client-id ID --api-key KEY --destination URL [--urls JSON]`.

Runs the Ozon source for one seller without Dagster and prints what it loaded.
"""

from __future__ import annotations

import sys

from pipelines.debug_cli import debug_parser, run_debug, sandbox_urls
from pipelines.ozon import ozon_source
from pipelines.ozon.helpers import OzonUrls


def main(argv: list[str] | None = None) -> int:
    parser = debug_parser("ozon", __doc__)
    parser.add_argument("--client-id", required=True, help="Ozon Client-Id (numeric)")
    parser.add_argument("--api-key", required=True, help="Ozon Api-Key of the same seller account")
    args = parser.parse_args(argv)
    urls = OzonUrls.from_sandbox(given) if (given := sandbox_urls(args)) else OzonUrls()
    return run_debug(
        "ozon",
        args,
        lambda a, at, policy: ozon_source(a.client_id, a.api_key, a.tenant, at, urls, a.orders_days, policy),
    )


if __name__ == "__main__":
    sys.exit(main())

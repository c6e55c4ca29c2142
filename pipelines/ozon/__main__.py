"""Debug entry point: `python -m pipelines.ozon --client-id ID --api-key KEY --destination URL [--urls JSON]`.

Runs the Ozon source for one seller without Dagster and prints what it loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from pipelines.destination import tenant_pipeline
from pipelines.http_policy import HttpPolicy
from pipelines.ozon import ozon_source
from pipelines.ozon.helpers import OzonUrls
from pipelines.runner import SyncError, run_source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.ozon", description=__doc__)
    parser.add_argument("--client-id", required=True, help="Ozon Client-Id (numeric)")
    parser.add_argument("--api-key", required=True, help="Ozon Api-Key of the same seller account")
    parser.add_argument("--tenant", default="debug", help="Tenant id; data lands in dataset t_<tenant>")
    parser.add_argument(
        "--destination",
        default="duckdb:///.stock-tracker/debug.duckdb",
        help="duckdb:///FILE or postgresql://…",
    )
    parser.add_argument("--urls", help="JSON of base URLs as `stock-tracker sandbox serve` prints them")
    parser.add_argument("--orders-days", type=int, default=30)
    parser.add_argument("--time-scale", type=float, default=1.0, help="Match the sandbox's --time-scale")
    args = parser.parse_args(argv)
    urls = OzonUrls.from_sandbox(json.loads(args.urls)) if args.urls else OzonUrls()
    pipeline = tenant_pipeline(args.tenant, "ozon", args.destination, Path(".stock-tracker/pipelines"))
    try:
        result = run_source(
            pipeline,
            lambda: ozon_source(
                args.client_id,
                args.api_key,
                args.tenant,
                datetime.now(UTC),
                urls,
                args.orders_days,
                HttpPolicy(time_scale=args.time_scale),
            ),
        )
    except SyncError as exc:
        print(f"sync failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"load_id": result.load_id, "rows": result.rows}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

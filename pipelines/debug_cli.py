"""The shared part of `python -m pipelines.<marketplace>`: common flags, one load, what it loaded."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.destination import tenant_pipeline
from pipelines.http_policy import HttpPolicy
from pipelines.runner import SyncError, run_source

# (parsed args, snapshot time, HTTP policy) -> the dlt source to load
SourceFactory = Callable[[argparse.Namespace, datetime, HttpPolicy], Any]


def debug_parser(marketplace: str, description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m pipelines.{marketplace}", description=description)
    parser.add_argument("--tenant", default="debug", help="Tenant id; data lands in dataset t_<tenant>")
    parser.add_argument(
        "--destination",
        default="duckdb:///.stock-tracker/debug.duckdb",
        help="duckdb:///FILE or postgresql://…",
    )
    parser.add_argument("--urls", help="JSON of base URLs as `stock-tracker sandbox serve` prints them")
    parser.add_argument("--orders-days", type=int, default=30)
    parser.add_argument("--time-scale", type=float, default=1.0, help="Match the sandbox's --time-scale")
    return parser


def run_debug(marketplace: str, args: argparse.Namespace, build: SourceFactory) -> int:
    """Load once without Dagster; print the load id and rows per table, or the reason it failed."""
    pipeline = tenant_pipeline(args.tenant, marketplace, args.destination, Path(".stock-tracker/pipelines"))
    policy = HttpPolicy(time_scale=args.time_scale)
    try:
        result = run_source(pipeline, lambda: build(args, datetime.now(UTC), policy))
    except SyncError as exc:
        print(f"sync failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"load_id": result.load_id, "rows": result.rows}, ensure_ascii=False))
    return 0


def sandbox_urls(args: argparse.Namespace) -> dict[str, str] | None:
    return json.loads(args.urls) if args.urls else None

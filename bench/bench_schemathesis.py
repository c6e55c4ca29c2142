"""Schemathesis at scale: the stateful run of the suite (register → login / refresh → use, every
answer checked against the OpenAPI document) with enough examples for ≥ 1 000 generated cases.

    uv run python bench/bench_schemathesis.py [--examples 150] [--steps 10]

The API runs in process on the embedded default (SQLite app database in a scratch folder).
Prints the number of cases, the statuses, the 5xx count and how many signed-in uses the chains
made; a schema violation or a 5xx stops it with Schemathesis' report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=150)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from api.main import create_app
    from settings import Settings
    from tests.api.fuzz import run_auth_flow
    from warehouse.app_db import migrate

    with tempfile.TemporaryDirectory(prefix="bench-schemathesis-") as scratch:
        settings = Settings(
            home=Path(scratch),
            app_database_url=f"sqlite:///{scratch}/app.db",
            jwt_secret="bench-" + "j" * 48,
            rate_limit_auth="10000000/minute",
            rate_limit_tenant="10000000/minute",
            dagster_graphql_url="http://127.0.0.1:9/graphql",
        )
        migrate(settings.app_database_url)
        app = create_app(settings)
        started = time.perf_counter()
        with TestClient(app):
            tally = run_auth_flow(app, examples=args.examples, steps=args.steps)
        seconds = time.perf_counter() - started
    print(
        f"schemathesis stateful: {tally.cases} generated cases in {seconds:.0f} s "
        f"({args.examples} examples × ≤ {args.steps} steps)\n"
        f"statuses {dict(sorted(tally.statuses.items()))}; 5xx: {tally.server_errors}; "
        f"schema violations: 0 (any would have stopped the run)\n"
        f"signed-in uses (GET /auth/me 200 with a chain's token): {tally.signed_in_uses}\n"
        f"by operation: {tally.transitions}",
        flush=True,
    )
    if tally.server_errors or tally.cases < 1000:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

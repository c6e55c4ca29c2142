"""Stateful fuzzing over the document's links: register → login / refresh → use (tests/api/fuzz.py).
A short run here; bench/bench_schemathesis.py runs ≥ 1 000 cases."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from sandbox.server import SandboxServer
from tests.api.conftest import make_settings
from tests.api.fuzz import run_auth_flow


def test_sign_up_sign_in_and_use_chains_answer_as_documented(
    tmp_path: Path, app_db: str, sandbox: SandboxServer
) -> None:
    app = create_app(make_settings(tmp_path, app_db, sandbox))
    with TestClient(app):  # start-up (pools, limits) as when served
        tally = run_auth_flow(app, examples=25)
    print(
        f"\nschemathesis stateful: {tally.cases} cases, statuses {dict(sorted(tally.statuses.items()))}, "
        f"{tally.signed_in_uses} signed-in uses; by operation {tally.transitions}"
    )
    assert tally.cases >= 100
    assert tally.server_errors == 0
    # The chains really ran: accounts were made, and their tokens used.
    assert tally.statuses.get(201, 0) > 0
    assert tally.signed_in_uses > 0

"""Property-based tests of every operation in the app's own OpenAPI document: over the generated
requests (valid and invalid), no 5xx, and every answer conforms to the document (status code,
content type, headers, body schema).

Dagster is replaced by an in-process stand-in answering the few calls the API makes (a real
webserver is test_sync.py's business), so a 503 from an absent Dagster is not counted as a 5xx
of the API. Stock comes from a seeded mart, keys are checked against the sandbox.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.bot.app import BotHolder
from api.dagster_client import RunState
from api.deps import get_dagster
from api.main import create_app
from api.rate_limit import RateLimits
from resources.stripe_billing import billing_from_settings
from sandbox.server import SandboxServer
from settings import Settings
from tests.api.conftest import Row, Seller, make_settings, register, seed_stock

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class FakeDagster:
    def version(self) -> str:
        return "test"

    def active_run(self, tenant_id: str) -> str | None:
        return None

    def launch_sync(self, tenant_id: str, tier: str, marketplaces: list[str], trigger: str = "api") -> str:
        return f"fake-{tenant_id}"

    def run(self, run_id: str) -> RunState | None:
        return RunState(run_id, "success", None, None, None)


# The operations are collected at import, before the session's database exists: the app is made
# with throwaway settings and the fixture below points it at the test's (deps read app.state).
_home = Path(tempfile.mkdtemp(prefix="st-schema-"))
atexit.register(shutil.rmtree, _home, ignore_errors=True)
app = create_app(Settings(home=_home))
app.dependency_overrides[get_dagster] = FakeDagster
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory, app_db: str, sandbox: SandboxServer) -> Iterator[Seller]:
    # Billing against the sandbox's Stripe, so its routes answer as on a configured server.
    # And the bot against the sandbox's Telegram, so link URLs are made as on a configured server.
    settings = make_settings(
        tmp_path_factory.mktemp("schema"),
        app_db,
        sandbox,
        stripe_secret_key="sk_test_schema",
        telegram_bot_token="7100002:AAH" + "s" * 32,
    )
    previous = app.state.settings, app.state.limits, app.state.billing, app.state.telegram
    app.state.settings, app.state.limits = settings, RateLimits(settings)
    app.state.billing = billing_from_settings(settings)
    app.state.telegram = BotHolder(settings)
    app.state.billing.setup_catalogue()  # `stock-tracker billing setup`: the plans' prices exist
    with TestClient(app) as client:
        seller = register(client)
    seed_stock(
        settings,
        seller.tenant_id,
        [Row(p, w, p % 17, p % 5, article=f"A-{p}") for p in range(1, 30) for w in ("Коледино", "Казань")],
    )
    yield seller
    app.state.settings, app.state.limits, app.state.billing, app.state.telegram = previous


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_no_schema_violations(case: schemathesis.Case, owner: Seller) -> None:
    headers = owner.auth
    if case.path == "/api/v1/auth/logout":
        # A logout with the owner's token would end the sign-in every other case uses.
        with TestClient(app) as client:
            signed_in = client.post(
                "/api/v1/auth/login", json={"email": owner.email, "password": owner.password}
            )
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    case.call_and_validate(headers=headers, checks=CHECKS)

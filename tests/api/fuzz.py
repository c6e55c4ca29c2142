"""Stateful fuzzing of the API with Schemathesis, shared by the suite (a short run) and
bench/bench_schemathesis.py (≥ 1 000 cases).

The state machine follows the OpenAPI links of the app's own document (api/routes/auth.py):
register → login / refresh → me, with generated data everywhere a link does not fix a value.
The access token of the last token pair it got is what it uses on the operations that need one,
so a chain is a real sign-up, sign-in and use. Every answer is checked: no 5xx, and status code,
content type, headers and body conform to the document.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
TOKEN_PATHS = ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh")


@dataclass
class Tally:
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    transitions: dict[str, int] = field(default_factory=dict)
    signed_in_uses: int = 0  # `GET /auth/me` answered 200 with a token a chain got

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def _sign_up_is_an_entry_point() -> None:
    """Schemathesis starts chains only at operations its dependency analysis thinks will succeed on
    random data; it reads `telegram_id` of sign-up as a reference to a resource nobody makes, and
    never starts at sign-up. Sign-up is where every chain of this API starts."""
    from schemathesis.specs.openapi import stateful

    guess = stateful.is_likely_root_transition
    if getattr(guess, "sign_up_first", False):
        return

    def likely(operation: Any, node: Any, produced_anywhere: set[str]) -> bool:
        return operation.path == "/api/v1/auth/register" or guess(operation, node, produced_anywhere)

    likely.sign_up_first = True  # type: ignore[attr-defined]
    stateful.is_likely_root_transition = likely  # type: ignore[assignment]


def auth_state_machine(app: Any, tally: Tally) -> Any:
    """The Schemathesis state machine over `app`'s document, counting into `tally`."""
    _sign_up_is_an_entry_point()
    # Only the document's own links: inferred ones made sign-up a step after "who am I".
    config = SchemathesisConfig.from_dict({"phases": {"stateful": {"inference": {"algorithms": []}}}})
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, config=config)
    base = schema.as_state_machine()

    class AuthFlow(base):  # type: ignore[misc, valid-type]
        token: str | None = None

        def setup(self) -> None:
            self.token = None

        def before_call(self, case: Any) -> None:
            body = case.body
            if case.path == "/api/v1/auth/register" and isinstance(body, dict):
                email = body.get("email")
                if isinstance(email, str) and email.count("@") == 1:
                    # A fresh address each time: the same drawn address meeting an account made
                    # in an earlier example (409) would make the run depend on the database.
                    body["email"] = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
            if self.token and case.path != "/api/v1/auth/logout":  # a logout would end the chain
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {self.token}"}

        def after_call(self, response: Any, case: Any) -> None:
            tally.cases += 1
            tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
            key = f"{case.method} {case.path}"
            tally.transitions[key] = tally.transitions.get(key, 0) + 1
            if case.path in TOKEN_PATHS and response.status_code in (200, 201):
                self.token = response.json()["access_token"]
            if case.path == "/api/v1/auth/me" and response.status_code == 200:
                tally.signed_in_uses += 1

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    return AuthFlow


def run_auth_flow(app: Any, examples: int, steps: int = 10) -> Tally:
    tally = Tally()
    auth_state_machine(app, tally).run(
        settings=hypothesis.settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            # Generate only: the API keeps what a chain did (accounts, spent tokens), so a replay
            # (shrinking) would meet another state and Hypothesis would call its data flaky.
            phases=[Phase.generate],
        )
    )
    return tally

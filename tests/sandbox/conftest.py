from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer

# Limits and report delays run this many times faster in tests (the sandbox's time scale).
TIME_SCALE = 200.0


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    raw = generate_scenario(sellers=2, skus=300, warehouses=40, days=30, seed=7)
    return parse_scenario(orjson.dumps(raw))


@pytest.fixture(scope="session")
def wb_seller(scenario: Scenario) -> dict[str, Any]:
    return next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")


@pytest.fixture
def server(scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(scenario, time_scale=TIME_SCALE) as running:
        yield running


class Wb:
    """A thin caller for tests: the seller's token, the sandbox's base URLs."""

    def __init__(self, server: SandboxServer, token: str) -> None:
        self.server, self.urls = server, server.urls
        self.session = requests.Session()
        self.session.headers["Authorization"] = token

    def get(self, service: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.urls[service] + path, timeout=30, **kwargs)

    def post(self, service: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(
            self.urls[service] + path, json=body if body is not None else {}, timeout=30, **kwargs
        )

    def control(self, path: str, body: Any = None) -> requests.Response:
        url = self.server.control_url + path
        answer = (
            requests.post(url, json=body, timeout=10) if body is not None else requests.get(url, timeout=10)
        )
        answer.raise_for_status()
        return answer


@pytest.fixture
def wb(server: SandboxServer, wb_seller: dict[str, Any]) -> Wb:
    return Wb(server, wb_seller["credentials"]["token"])

"""Both sources wait at least as long as a 429 asks before they try again (WB `X-Ratelimit-Retry`,
Ozon `Retry-After`), measured in the sandbox's own request log.

The requested wait is set far above what the client's own backoff and pacing would wait at this time
scale, so a client that ignored the header would come back too early and fail these tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import orjson
import pytest
import requests

from pipelines.http_policy import HttpPolicy
from pipelines.ozon.helpers import OzonClient, OzonUrls
from pipelines.wildberries.helpers import WbClient, WbUrls
from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer

SCALE = 1000.0
# What the injected 429 asks for, in seconds at real speed: 0.4 s at this scale. The policy's own
# backoff tops out at backoff_max / SCALE = 0.06 s and the slowest bucket here paces 0.04 s.
RETRY_AFTER = 400.0
ASKED = RETRY_AFTER / SCALE
LIMITED_CALLS = 2


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    raw = generate_scenario(sellers=2, skus=12, warehouses=3, days=3, seed=17)
    return parse_scenario(orjson.dumps(raw))


@pytest.fixture
def server(scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(scenario, time_scale=SCALE) as running:
        yield running


def policy() -> HttpPolicy:
    return HttpPolicy(time_scale=SCALE, read_timeout=5.0, backoff_initial=0.5, backoff_max=60.0)


def limit_next_calls(server: SandboxServer, service: str, endpoint: str) -> None:
    rule = {
        "service": service,
        "endpoint": endpoint,
        "kind": "429",
        "count": LIMITED_CALLS,
        "retry_after": RETRY_AFTER,
    }
    requests.post(server.control_url + "/faults", json=rule, timeout=5).raise_for_status()


def calls_to(server: SandboxServer, service: str, path: str) -> list[dict[str, Any]]:
    log = requests.get(server.control_url + f"/requests?service={service}", timeout=5).json()
    return [entry for entry in log if entry["path"] == path]


def assert_waited_as_asked(calls: list[dict[str, Any]]) -> None:
    """Each 429 is followed by one retry of the same call, no sooner than the header asked.

    The log stamps a request when the sandbox has answered it, so the gap between the 429's stamp
    and the retry's is never longer than the client's real pause plus the retry's own handling.
    """
    assert [c["status"] for c in calls] == [429] * LIMITED_CALLS + [200]
    gaps = [later["time"] - earlier["time"] for earlier, later in pairwise(calls)]
    assert all(gap >= ASKED for gap in gaps), f"retried after {gaps} s; the server asked for {ASKED} s"


@pytest.mark.parametrize(
    ("service", "path", "fetch"),
    [
        (
            "wb_analytics",
            "/api/analytics/v1/stocks-report/wb-warehouses",
            lambda client: client.wb_warehouse_stock(),
        ),
        ("wb_content", "/content/v2/get/cards/list", lambda client: client.sizes()),
    ],
    ids=["stocks-report", "cards"],
)
def test_wb_waits_the_x_ratelimit_retry_it_was_given(
    server: SandboxServer,
    scenario: Scenario,
    service: str,
    path: str,
    fetch: Callable[[WbClient], list[dict[str, Any]]],
) -> None:
    seller = scenario["sellers"][0]
    assert seller["marketplace"] == "wildberries"
    client = WbClient(seller["credentials"]["token"], WbUrls.from_sandbox(server.urls), policy())
    limit_next_calls(server, service, path)

    rows = fetch(client)

    assert rows, "the call got its data after the waits"
    assert_waited_as_asked(calls_to(server, service, path))


def test_ozon_waits_the_retry_after_it_was_given(server: SandboxServer, scenario: Scenario) -> None:
    seller = next(s for s in scenario["sellers"] if s["marketplace"] == "ozon")
    credentials = seller["credentials"]
    client = OzonClient(
        credentials["client_id"], credentials["api_key"], OzonUrls.from_sandbox(server.urls), policy()
    )
    limit_next_calls(server, "ozon", "/v3/product/list")

    products = client.products()

    assert len(products) == len(seller["products"])
    assert_waited_as_asked(calls_to(server, "ozon", "/v3/product/list"))

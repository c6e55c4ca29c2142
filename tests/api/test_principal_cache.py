"""The product list answers from a sign-in check cached for a few seconds (api/principal_cache.py):
a sign-in revoked elsewhere stops working within that bound, one ended through the API at once,
and the calls it answers still count against the plan."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.principal_cache import MAX_SECONDS
from settings import Settings
from tests.api.conftest import Row, Seller, register, seed_stock
from warehouse.app_db import engine_for


def _list(client: TestClient, seller: Seller) -> tuple[int, dict]:
    response = client.get("/api/v1/products/", headers=seller.auth)
    return response.status_code, response.json()


def test_a_sign_in_revoked_elsewhere_stops_reading_within_five_seconds(
    client: TestClient, settings: Settings, app_db: str
) -> None:
    assert settings.principal_cache_seconds == MAX_SECONDS == 5
    seller = register(client)
    seed_stock(settings, seller.tenant_id, [Row(product_id=101, warehouse="Коледино", stock=5)])
    assert _list(client, seller)[0] == 200  # now cached
    # Another replica or the CLI revokes the sign-in: this process is not told.
    with engine_for(app_db).begin() as connection:
        connection.execute(
            text("update refresh_tokens set revoked_at = :now where user_id = :user"),
            {"now": datetime.now(UTC), "user": seller.user_id},
        )
    revoked_at = time.monotonic()
    while True:
        status, body = _list(client, seller)
        elapsed = time.monotonic() - revoked_at
        if status != 200 or elapsed > MAX_SECONDS + 2:
            break
        time.sleep(0.05)
    assert status == 401 and body["error"]["code"] == "session_revoked"
    assert elapsed <= MAX_SECONDS + 0.5, elapsed
    # And it stays refused: a refused sign-in is never cached as good.
    assert _list(client, seller)[0] == 401


def test_a_logout_through_the_api_stops_reading_at_once(client: TestClient, settings: Settings) -> None:
    seller = register(client)
    seed_stock(settings, seller.tenant_id, [Row(product_id=101, warehouse="Коледино", stock=5)])
    assert _list(client, seller)[0] == 200
    assert client.post("/api/v1/auth/logout", json={"refresh_token": seller.refresh}).status_code == 204
    status, body = _list(client, seller)
    assert status == 401 and body["error"]["code"] == "session_revoked"


def test_a_settings_change_shows_in_the_next_list(client: TestClient, settings: Settings) -> None:
    seller = register(client)
    rows = [Row(product_id=101, warehouse="Коледино", stock=10, orders=7)]  # 10 days of cover
    seed_stock(settings, seller.tenant_id, rows)
    assert _list(client, seller)[1]["items"][0]["low_stock"] is True  # below the default 14 days
    changed = client.patch("/api/v1/tenants/me", json={"low_stock_days": 5}, headers=seller.auth)
    assert changed.status_code == 200
    assert _list(client, seller)[1]["items"][0]["low_stock"] is False


def test_cached_calls_count_against_the_plan(client: TestClient, settings: Settings) -> None:
    seller = register(client)
    seed_stock(settings, seller.tenant_id, [Row(product_id=101, warehouse="Коледино", stock=5)])
    remaining = [
        int(client.get("/api/v1/products/", headers=seller.auth).headers["RateLimit-Remaining"])
        for _ in range(5)
    ]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] - remaining[-1] == 4
    # A write empties the sign-in cache; the next list stores the calls counted meanwhile.
    client.patch("/api/v1/tenants/me", json={"low_stock_days": 5}, headers=seller.auth)
    client.get("/api/v1/products/", headers=seller.auth)
    used = client.get("/api/v1/billing/usage", headers=seller.auth).json()["api_calls"]["used"]
    assert used >= 7  # five lists, the change, one more list (and usage itself, if counted)

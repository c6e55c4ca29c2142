"""The plan's cost per request and the Stripe webhook's throughput (issue: billing and plans).

    uv run python bench/bench_billing.py [--requests 2000] [--events 1000] [--app-db postgresql://…]
        [--redis-url redis://127.0.0.1:6379/0]

1. Quota check: the same signed-in `GET /api/v1/tenants/me`, side by side in one run, on the same
   app: with the plan check (the monthly counter upsert and the subscription read) and with it
   switched off. Rounds alternate so drift hits both; the difference of the medians is the check's
   cost per request (µs). In-process ASGI (Starlette's TestClient), so network noise stays out.
2. Webhook events: signed `customer.subscription.updated` events POSTed over loopback HTTP to the
   API served by uvicorn, one at a time, each verified and applied once: events per second.

The app database is a fresh PostgreSQL database (dropped at the end) unless `--app-db` names one.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402
import uvicorn  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import api.quota  # noqa: E402
from api.main import create_app  # noqa: E402
from settings import Settings  # noqa: E402
from warehouse.app_db import engine_for, migrate  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "whsec_bench_" + "x" * 20


def _settings(home: Path, app_db: str) -> Settings:
    return Settings(
        home=home,
        app_database_url=app_db,
        warehouse_url=f"duckdb:///{home}/{{tenant}}.duckdb",
        encryption_keys=Fernet.generate_key().decode(),
        jwt_secret="bench-" + "y" * 40,
        rate_limit_tenant="100000000/minute",
        rate_limit_auth="100000/minute",
        stripe_webhook_secret=SECRET,
    )


def bench_quota(settings: Settings, requests_per_round: int, rounds: int) -> tuple[float, float, float]:
    """Median µs per request with and without the check, and the median µs spent inside it (timed
    around the call: on a busy machine the difference of two medians is mostly scheduling noise)."""
    real = api.quota.enforce
    inside: list[float] = []

    def timed(*args: Any) -> None:
        start = time.perf_counter()
        try:
            real(*args)
        finally:
            inside.append(time.perf_counter() - start)

    with TestClient(create_app(settings)) as client:
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        tokens = client.post(
            "/api/v1/auth/register", json={"email": email, "password": "correct horse battery"}
        ).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        with engine_for(settings.app_database_url).begin() as conn:  # room for every bench call
            conn.exec_driver_sql("update tenants set tier = 'enterprise'")
        timings: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(rounds):
            for checked in (True, False):
                api.quota.enforce = timed if checked else (lambda *args: None)
                start = time.perf_counter()
                for _ in range(requests_per_round):
                    assert client.get("/api/v1/tenants/me", headers=auth).status_code == 200
                timings[checked].append((time.perf_counter() - start) / requests_per_round)
        api.quota.enforce = real
    return (
        statistics.median(timings[True]) * 1e6,
        statistics.median(timings[False]) * 1e6,
        statistics.median(inside) * 1e6,
    )


def bench_webhooks(settings: Settings, events: int) -> float:
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/api/v1/billing/webhook"
    with TestClient(create_app(settings)) as client:
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        client.post("/api/v1/auth/register", json={"email": email, "password": "correct horse battery"})
    with engine_for(settings.app_database_url).connect() as conn:
        tenant = conn.exec_driver_sql("select id from tenants order by created_at desc limit 1").scalar_one()
    bodies = []
    now = int(time.time())
    for i in range(events):
        event = {
            "id": f"evt_bench_{uuid.uuid4().hex}",
            "object": "event",
            "type": "customer.subscription.updated",
            "created": now + i,
            "data": {
                "object": {
                    "id": "sub_bench",
                    "object": "subscription",
                    "status": "active",
                    "customer": "cus_bench",
                    "metadata": {"tenant": tenant},
                    "cancel_at_period_end": False,
                    "items": {
                        "data": [
                            {
                                "price": {"lookup_key": ("pro_monthly", "enterprise_monthly")[i % 2]},
                                "current_period_end": now + 86_400 * (30 + i),
                            }
                        ]
                    },
                }
            },
        }
        bodies.append(orjson.dumps(event))
    with requests.Session() as http:
        start = time.perf_counter()
        for body in bodies:
            t = int(time.time())
            mac = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
            answer = http.post(
                url,
                data=body,
                headers={"Stripe-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"},
            )
            assert answer.status_code == 200 and answer.json()["duplicate"] is False, answer.text
        elapsed = time.perf_counter() - start
    server.should_exit = True
    thread.join(timeout=10)
    return events / elapsed


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per variant")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--app-db", default="")
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="also time the Redis counter ('' skips it)"
    )
    args = parser.parse_args()
    name = ""
    app_db = args.app_db
    if not app_db:
        name = f"st_bench_billing_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        app_db = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    try:
        migrate(app_db)
        with tempfile.TemporaryDirectory() as home:
            settings = _settings(Path(home), app_db)
            per_round = max(1, args.requests // args.rounds)
            print(
                f"GET /api/v1/tenants/me, {per_round * args.rounds} requests per variant, PostgreSQL app db"
            )
            variants = [("counter in PostgreSQL", settings)]
            if args.redis_url and _redis_answers(args.redis_url):
                redis_settings = settings.model_copy(update={"redis_url": args.redis_url})
                variants.append(("counter in Redis", redis_settings))
            for label, variant in variants:
                checked, unchecked, inside = bench_quota(variant, per_round, args.rounds)
                print(f"  {label}:")
                rounds = f"(median of {args.rounds} rounds)"
                print(f"    with the plan check    {checked:8.0f} µs/request {rounds}")
                print(f"    without it             {unchecked:8.0f} µs/request")
                cost = checked - unchecked
                print(f"    difference             {cost:8.0f} µs/request ({checked / unchecked:.2f}x)")
                print(f"    inside the check       {inside:8.0f} µs/request (median, timed around the call)")
            rate = bench_webhooks(settings, args.events)
            print(
                f"Stripe webhook events      {rate:8.0f} events/s ({args.events} signed, verified, applied)"
            )
    finally:
        engine_for(app_db).dispose()
        if name:
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

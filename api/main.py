"""The FastAPI app: routers under /api/v1, metrics, docs, and the cross-cutting layers.

`create_app(settings)` builds one app around one Settings object (tests build theirs; `stock-tracker
api` serves `create_app()` with the settings from the environment).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import docs, errors, logs
from api.admission import AdmissionLimit
from api.bot.app import BotHolder
from api.dagster_client import DagsterClient
from api.errors import ApiError
from api.metrics import ApiMetrics, metrics_allowed
from api.middleware import RequestContextMiddleware
from api.principal_cache import ForgetPrincipalsOnWrite, cache_for
from api.quota import ApiQuota, QuotaHeadersMiddleware
from api.rate_limit import RateLimits
from api.routes import (
    API_PREFIX,
    auth,
    billing,
    credentials,
    health,
    products,
    supply_plan,
    sync,
    telegram,
    tenants,
    webhooks,
)
from api.security import warm_up
from resources.sentry import init_sentry
from resources.stripe_billing import billing_from_settings
from settings import Settings, get_settings

TITLE = "Stock Tracker API"
DESCRIPTION = """
Stock, orders and days of cover of your Wildberries and Ozon products, your marketplace keys,
and syncs on demand.

Sign in with `POST /api/v1/auth/login` (JSON `{"email" or "username", "password"}`, or an OAuth2
password form), then send the access token as `Authorization: Bearer …`; the **Authorize** button
does both with your email and password. Errors share one shape:
`{"error": {"code", "message", "request_id"}}`; messages are in Russian unless `Accept-Language`
asks for English (or your account's locale is `en`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    init_sentry("api", settings)
    dagster = DagsterClient(settings.dagster_graphql_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        warm_up()
        # The stock reads import polars lazily; the first requests arriving together in the thread
        # pool then queue on the import lock holding their database connections, and the pool
        # runs dry (bench/bench_load.py hung). Import it once, before any request.
        import polars  # noqa: F401

        yield
        await app.state.telegram.close()
        # Calls counted but not yet stored, into the database the app serves now (app.state).
        app.state.principals.flush(app.state.quota, app.state.settings)
        dagster.close()

    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version="1.0.0",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.limits = RateLimits(settings)
    app.state.dagster = dagster
    app.state.quota = ApiQuota(settings)
    app.state.principals = cache_for(settings)
    app.state.billing = billing_from_settings(settings)
    app.state.telegram = BotHolder(settings)
    metrics = ApiMetrics(settings)
    app.state.metrics = metrics

    for router in (
        auth.router,
        tenants.router,
        credentials.router,
        products.router,
        supply_plan.router,
        sync.router,
        sync.alias_router,
        health.router,
        billing.router,
        webhooks.router,
        telegram.router,
    ):
        app.include_router(router)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        if not metrics_allowed(settings, request.headers.get("authorization")):
            raise ApiError(404, "not_found")
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    errors.install(app)
    docs.install(app, TITLE)
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept-Language", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Content-Disposition"],
            max_age=600,
        )
    app.add_middleware(QuotaHeadersMiddleware)
    app.add_middleware(
        AdmissionLimit, max_in_flight=settings.api_max_in_flight, wait_seconds=settings.api_queue_seconds
    )
    app.add_middleware(ForgetPrincipalsOnWrite)
    # Added last, so it is outermost: it sees (and stamps) every response, CORS preflights included.
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


def served_app() -> FastAPI:
    """The app as `stock-tracker api` serves it: JSON logs set up in each worker process."""
    logs.configure(os.environ.get("STOCK_TRACKER_API_LOG_LEVEL", "INFO"))
    return create_app()

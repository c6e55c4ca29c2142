"""Swagger UI at /docs and ReDoc at /redoc.

Their scripts come from the `fastapi-offline` package when it is installed (served by the API
itself: works offline and keeps the pages' CSP to 'self'), else from the jsDelivr CDN as FastAPI
does by default.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs/assets"
CDN = "https://cdn.jsdelivr.net"


def local_assets() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    return static if (static / "swagger-ui-bundle.js").exists() else None


def install(app: FastAPI, openapi_url: str, title: str) -> str:
    """Add the two pages; returns the origin their assets load from ('' for this server)."""
    assets = local_assets()
    if assets is not None:
        app.mount(ASSETS_PATH, StaticFiles(directory=assets), name="docs-assets")
        swagger_js, swagger_css = f"{ASSETS_PATH}/swagger-ui-bundle.js", f"{ASSETS_PATH}/swagger-ui.css"
        redoc_js, favicon = f"{ASSETS_PATH}/redoc.standalone.js", f"{ASSETS_PATH}/favicon.png"
        origin = ""
    else:
        swagger_js = f"{CDN}/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
        swagger_css = f"{CDN}/npm/swagger-ui-dist@5/swagger-ui.css"
        redoc_js = f"{CDN}/npm/redoc@2/bundles/redoc.standalone.js"
        favicon = "https://fastapi.tiangolo.com/img/favicon.png"
        origin = CDN

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — Swagger UI",
            swagger_js_url=swagger_js,
            swagger_css_url=swagger_css,
            swagger_favicon_url=favicon,
            swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} — ReDoc",
            redoc_js_url=redoc_js,
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )

    return origin

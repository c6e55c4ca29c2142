"""Swagger UI at /docs and ReDoc at /redoc, working offline, and the OpenAPI document at /openapi.json.

Their scripts and styles are the swagger-ui-dist and ReDoc bundles shipped in the `fastapi-offline`
package, served by the API itself under /docs/assets: the pages work without internet (and behind
proxies that block CDNs), and their CSP stays 'self' (api/middleware.py). The root paths are the
ones the predecessor documented; /api/v1/openapi.json stays as well.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs/assets"
ASSETS = Path(fastapi_offline.__file__).parent / "static"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ROOT_OPENAPI_PATH = "/openapi.json"

SWAGGER_JS = f"{ASSETS_PATH}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS_PATH}/swagger-ui.css"
REDOC_JS = f"{ASSETS_PATH}/redoc.standalone.js"
FAVICON = f"{ASSETS_PATH}/favicon.png"


def install(app: FastAPI, title: str) -> None:
    """Add the two pages, their assets, Swagger's OAuth2 redirect page and /openapi.json."""
    openapi_url = app.openapi_url or ROOT_OPENAPI_PATH
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get(ROOT_OPENAPI_PATH, include_in_schema=False)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — Swagger UI",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
            swagger_ui_parameters={
                "persistAuthorization": True,
                "displayRequestDuration": True,
                # Swagger UI would otherwise fetch a validity badge from validator.swagger.io.
                "validatorUrl": None,
            },
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} — ReDoc",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )

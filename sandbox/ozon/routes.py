"""Placeholder replaced by the Ozon sandbox."""

from aiohttp import web


def register(app: web.Application) -> None:
    from sandbox.server import ERRORS_KEY
    from sandbox.wb.errors import WbErrors

    app[ERRORS_KEY]["ozon"] = WbErrors("ozon")

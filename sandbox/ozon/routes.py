"""Ozon Seller API methods Stock Tracker uses (marketplace-api.md §3–§4), under `/ozon`.

All are POST with a JSON body, as on api-seller.ozon.ru. Methods switched off by Ozon
(`/v1/warehouse/list`, `/v1/product/info/stocks-by-warehouse/fbs`, `/v3/product/info/stocks`, …)
are not served: the gateway answers them with Ozon's 404.
"""

from __future__ import annotations

from aiohttp import web

from sandbox.ozon import attributes, catalog, categories, fbs, postings, stocks
from sandbox.ozon.errors import OzonErrors

PREFIX = "/ozon"
ROUTES = {
    "/v3/product/list": catalog.product_list,
    "/v3/product/info/list": catalog.product_info_list,
    "/v4/product/info/attributes": attributes.attributes,
    "/v1/description-category/tree": categories.tree,
    "/v4/product/info/stocks": stocks.product_stocks,
    "/v1/analytics/stocks": stocks.analytics_stocks,
    "/v2/analytics/stock_on_warehouses": stocks.stock_on_warehouses,
    "/v1/analytics/turnover/stocks": stocks.turnover,
    "/v1/cluster/list": stocks.cluster_list,
    "/v2/warehouse/list": fbs.warehouse_list,
    "/v1/product/info/warehouse/stocks": fbs.warehouse_stocks,
    "/v2/product/info/stocks-by-warehouse/fbs": fbs.stocks_by_warehouse,
    "/v2/posting/fbo/list": postings.fbo_list,
    "/v3/posting/fbs/list": postings.fbs_list,
}


def register(app: web.Application) -> None:
    from sandbox.server import ERRORS_KEY

    app[ERRORS_KEY]["ozon"] = OzonErrors()
    for path, handler in ROUTES.items():
        app.router.add_post(PREFIX + path, handler)

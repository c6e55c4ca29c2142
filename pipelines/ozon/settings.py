"""Ozon Seller API constants: paths, page sizes and the documented rate limits (marketplace-api.md §3–§4)."""

from __future__ import annotations

from pipelines.http_policy import MethodGroup

PRODUCT_LIST = "/v3/product/list"
PRODUCT_INFO = "/v3/product/info/list"
PRODUCT_ATTRIBUTES = "/v4/product/info/attributes"
CATEGORY_TREE = "/v1/description-category/tree"
STOCKS_BY_SCHEME = "/v4/product/info/stocks"
ANALYTICS_STOCKS = "/v1/analytics/stocks"
STOCK_ON_WAREHOUSES = "/v2/analytics/stock_on_warehouses"  # legacy; "will be switched off"
TURNOVER = "/v1/analytics/turnover/stocks"
WAREHOUSE_LIST = "/v2/warehouse/list"
WAREHOUSE_STOCKS = "/v1/product/info/warehouse/stocks"
FBS_STOCKS_BY_SKU = "/v2/product/info/stocks-by-warehouse/fbs"
FBO_POSTINGS = "/v2/posting/fbo/list"
FBS_POSTINGS = "/v3/posting/fbs/list"
CLUSTER_LIST = "/v1/cluster/list"
# /v1/cluster/list has no paging (Ozon has a few dozen clusters); the Russian ones are planned for.
CLUSTER_TYPE = "CLUSTER_TYPE_OZON"

PAGE = 1000  # the documented maximum `limit` of the list methods
WAREHOUSE_PAGE = 100  # /v2/warehouse/list: the maximum is undocumented; sellers have a handful
INFO_BATCH = 1000  # ids per /v3/product/info/list call
ATTRIBUTES_PAGE = 1000  # /v4/product/info/attributes: `limit` is 1..1000 (spec)
ANALYTICS_BATCH = 100  # SKUs per /v1/analytics/stocks call (documented maximum)
TURNOVER_BATCH = 1000  # SKUs per /v1/analytics/turnover/stocks call (its `limit` maximum)
FBS_SKU_BATCH = 500  # SKUs per stocks-by-warehouse/fbs call (undocumented maximum; SDKs send 500)
FBO_POSTINGS_MAX_OFFSET = 20_000  # /v2/posting/fbo/list refuses larger offsets
POSTINGS_MAX_DAYS = 365  # posting lists refuse a longer period (PERIOD_IS_TOO_LONG)

BRAND_ATTRIBUTE = 85  # «Бренд» among a product's attributes (spec example of /v4/product/info/attributes)
# Category names as the seller's cabinet shows them: DEFAULT is Russian.
CATEGORY_LANGUAGE = "DEFAULT"

# Ozon answers an unknown key with 404 code 5 (not 401); this text tells it from a missing method.
INVALID_KEY_MARKER = "api-key"

# Limits per Client-Id. Every call draws from the account-wide bucket; some also from their own.
ACCOUNT = MethodGroup("ozon.all", 0.02, 50)  # 50 requests/second across all methods
# Undocumented; clients see 429 code 8 faster than about once a second (§4.2).
GROUP_ANALYTICS_STOCKS = MethodGroup("ozon.analytics_stocks", 1.0, 2)
GROUP_TURNOVER = MethodGroup("ozon.analytics_turnover", 60.0, 1)  # "1 request per minute"

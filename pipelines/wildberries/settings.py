"""Wildberries API constants: paths, page sizes and the documented rate limits (marketplace-api.md §2)."""

from __future__ import annotations

from pipelines.http_policy import MethodGroup

# Token categories each host needs (WB answers 401 "token scope not allowed" otherwise).
HOST_CATEGORIES: dict[str, str] = {
    "content": "Контент (Content)",
    "analytics": "Аналитика (Analytics)",
    "statistics": "Статистика (Statistics)",
    "marketplace": "Маркетплейс (Marketplace)",
}

CARDS_LIST = "/content/v2/get/cards/list"
STOCKS_WB = "/api/analytics/v1/stocks-report/wb-warehouses"
STOCKS_SELLER = "/api/analytics/v1/stocks-report/seller-warehouses"
REMAINS_CREATE = "/api/v1/warehouse_remains"
REMAINS_STATUS = "/api/v1/warehouse_remains/tasks/{task_id}/status"
REMAINS_DOWNLOAD = "/api/v1/warehouse_remains/tasks/{task_id}/download"
SELLER_WAREHOUSES = "/api/v3/warehouses"
SELLER_STOCKS = "/api/v3/stocks/{warehouse_id}"
ORDER_FEED = "/api/analytics/v1/order-feed"
SUPPLIER_ORDERS = "/api/v1/supplier/orders"

CARDS_PAGE = 100  # the documented maximum
REPORT_PAGE = 250_000  # stocks-report default and maximum
SELLER_STOCKS_BATCH = 1000  # chrtIds per /api/v3/stocks call
ORDER_FEED_PAGE = 1000
ORDER_FEED_MAX_DAYS = 31
REMAINS_POLL_SECONDS = 5.0
REMAINS_MAX_POLLS = 120

# Pseudo-rows of warehouse_remains: totals and transit, never warehouses of their own.
REMAINS_TO_CLIENT = "В пути до получателей"
REMAINS_FROM_CLIENT = "В пути возвраты на склад WB"
REMAINS_TOTAL = "Всего находится на складах"
REMAINS_PSEUDO = frozenset({REMAINS_TO_CLIENT, REMAINS_FROM_CLIENT, REMAINS_TOTAL, "Остальные"})

# Personal/Service token limits (per seller account); one bucket per method group.
PING = MethodGroup("ping", 10.0, 99)
GROUP_CARDS = MethodGroup("content.cards_list", 0.6, 5)
GROUP_STOCKS_WB = MethodGroup("analytics.stocks_report_wb", 20.0, 1)
GROUP_STOCKS_SELLER = MethodGroup("analytics.stocks_report_seller", 20.0, 1)
GROUP_SELLER_WAREHOUSES = MethodGroup("marketplace.warehouses", 0.2, 20)
GROUP_SELLER_STOCKS = MethodGroup("marketplace.stocks", 0.2, 20)
GROUP_REMAINS_CREATE = MethodGroup("analytics.remains_create", 60.0, 5)
GROUP_REMAINS_STATUS = MethodGroup("analytics.remains_status", 5.0, 5)
GROUP_REMAINS_DOWNLOAD = MethodGroup("analytics.remains_download", 60.0, 1)
GROUP_ORDER_FEED = MethodGroup("analytics.order_feed", 60.0, 1)
GROUP_SUPPLIER_ORDERS = MethodGroup("statistics.orders", 60.0, 10)
# Marketplace-category methods count any 4xx as 10 requests.
PENALIZED_4XX = frozenset({GROUP_SELLER_WAREHOUSES.name, GROUP_SELLER_STOCKS.name})

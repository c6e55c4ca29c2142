"""WB's documented rate limits per method group (marketplace-api.md §2), by token type.

Personal / Service tokens (and "Base with secret") get the first limit; Base tokens (acc=1) the
second where WB documents one. Method groups share a bucket as WB says they do.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.ratelimit import Limit


@dataclass(frozen=True)
class MethodGroup:
    name: str
    limit: Limit
    base_limit: Limit | None = None
    # Marketplace-category methods count any 4xx answer as 10 requests (since 2026-06-04).
    penalize_4xx: bool = False

    def limit_for(self, token_type: int | None) -> Limit:
        return self.base_limit if token_type == 1 and self.base_limit else self.limit


HOUR = 3600.0

PING = MethodGroup("ping", Limit(10.0, 99))
CARDS_LIST = MethodGroup("content.cards_list", Limit(0.6, 5))
STOCKS_REPORT_WB = MethodGroup("analytics.stocks_report_wb", Limit(20.0, 1))
STOCKS_REPORT_SELLER = MethodGroup("analytics.stocks_report_seller", Limit(20.0, 1))
SELLER_WAREHOUSES = MethodGroup("marketplace.warehouses", Limit(0.2, 20), Limit(0.4, 10), penalize_4xx=True)
SELLER_STOCKS = MethodGroup("marketplace.stocks", Limit(0.2, 20), Limit(0.4, 10), penalize_4xx=True)
REMAINS_CREATE = MethodGroup("analytics.remains_create", Limit(60.0, 5), Limit(15 * 60.0, 1))
REMAINS_STATUS = MethodGroup("analytics.remains_status", Limit(5.0, 5), Limit(15 * 60.0, 1))
REMAINS_DOWNLOAD = MethodGroup("analytics.remains_download", Limit(60.0, 1), Limit(15 * 60.0, 1))
SUPPLIER_ORDERS = MethodGroup("statistics.orders", Limit(60.0, 10), Limit(3 * HOUR, 1))
SUPPLIER_STOCKS = MethodGroup("statistics.stocks", Limit(60.0, 1))
ORDER_FEED = MethodGroup("analytics.order_feed", Limit(60.0, 1), Limit(3 * HOUR, 1))

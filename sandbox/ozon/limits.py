"""Ozon's rate limits per Client-Id (marketplace-api.md §3.2, §4).

Every call draws from the account-wide bucket (50 requests/second across all methods); a few
methods also draw from their own, stricter bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.ratelimit import Limit

ACCOUNT_GROUP = "ozon.all"
ACCOUNT = Limit(0.02, 50)  # 50 rps per Client-Id, any method (limity.md)


@dataclass(frozen=True)
class MethodGroup:
    name: str
    limit: Limit


# "Не больше 1 запроса в минуту по одному кабинету Client-Id" (method description, S5).
TURNOVER = MethodGroup("ozon.analytics_turnover", Limit.per_minute(1, 1))
# Undocumented: the doc names no limit, but clients see 429 code 8 when they call it faster than
# about once a second (SDK notes, §4.2). Modelled as 1 rps with a burst of 2.
ANALYTICS_STOCKS = MethodGroup("ozon.analytics_stocks", Limit(1.0, 2))

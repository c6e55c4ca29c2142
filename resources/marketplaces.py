"""Where the marketplace APIs are: the real hosts or the sandbox, by configuration only."""

from __future__ import annotations

from dagster import ConfigurableResource

from pipelines.http_policy import CallLog, HttpPolicy
from pipelines.wildberries.helpers import WbUrls


class MarketplaceApis(ConfigurableResource):
    wb_content_url: str
    wb_analytics_url: str
    wb_statistics_url: str
    wb_marketplace_url: str
    wb_common_url: str
    ozon_url: str
    time_scale: float = 1.0
    read_timeout_seconds: float = 60.0

    def wb_urls(self) -> WbUrls:
        return WbUrls(
            self.wb_content_url,
            self.wb_analytics_url,
            self.wb_statistics_url,
            self.wb_marketplace_url,
            self.wb_common_url,
        )

    def policy(self, calls: CallLog | None = None) -> HttpPolicy:
        return HttpPolicy(time_scale=self.time_scale, read_timeout=self.read_timeout_seconds, calls=calls)

    def as_urls(self) -> dict[str, str]:
        return {
            "wb_content": self.wb_content_url,
            "wb_analytics": self.wb_analytics_url,
            "wb_statistics": self.wb_statistics_url,
            "wb_marketplace": self.wb_marketplace_url,
            "wb_common": self.wb_common_url,
            "ozon": self.ozon_url,
        }

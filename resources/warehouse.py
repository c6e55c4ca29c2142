"""The warehouse (marketplace data and the stock model) as a Dagster resource."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt
from dagster import ConfigurableResource

from pipelines.destination import tenant_pipeline
from warehouse.mart import Mart


class WarehouseResource(ConfigurableResource):
    # `duckdb:///…/{tenant}.duckdb` (a file per tenant) or `postgresql://…` (one database).
    url: str
    pipelines_dir: str

    def url_for(self, tenant: str) -> str:
        return self.url.replace("{tenant}", tenant)

    def pipeline(self, tenant: str, marketplace: str) -> dlt.Pipeline:
        return tenant_pipeline(tenant, marketplace, self.url_for(tenant), Path(self.pipelines_dir) / tenant)

    @contextmanager
    def mart(self, tenant: str) -> Iterator[Mart]:
        mart = Mart(self.url_for(tenant), tenant)
        try:
            mart.ensure_schema()
            yield mart
        finally:
            mart.close()

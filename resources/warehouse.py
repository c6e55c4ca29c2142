"""The warehouse (marketplace data and the stock model) as a Dagster resource."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dlt
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from pipelines.destination import tenant_pipeline
from warehouse.mart import Mart


class WarehouseResource(ConfigurableResource):
    # `duckdb:///…/{tenant}.duckdb` (a file per tenant) or `postgresql://…` (one database).
    url: str
    pipelines_dir: str
    # DuckDB: one connection per tenant file, held from the run's first mart to its end, so that
    # each step's mart joins the open database instead of opening the file again (reading its
    # catalog) and checkpointing it on close: ≈50 ms a step, 6 steps a sync (bench/bench_sync.py).
    # Each step still has a connection and transactions of its own.
    _kept: dict[str, Mart] = PrivateAttr(default_factory=dict)

    def url_for(self, tenant: str) -> str:
        return self.url.replace("{tenant}", tenant)

    def pipeline(self, tenant: str, marketplace: str) -> dlt.Pipeline:
        return tenant_pipeline(tenant, marketplace, self.url_for(tenant), Path(self.pipelines_dir) / tenant)

    @contextmanager
    def mart(self, tenant: str) -> Iterator[Mart]:
        url = self.url_for(tenant)
        if url.startswith("duckdb:///") and url not in self._kept:
            self._kept[url] = Mart(url, tenant)
        mart = Mart(url, tenant)
        try:
            mart.ensure_schema()
            yield mart
        finally:
            mart.close()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        while self._kept:
            self._kept.popitem()[1].close()

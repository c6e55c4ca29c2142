"""Where a tenant's marketplace data lands: one dataset (schema) per tenant, one dlt pipeline
per tenant and marketplace, so tenants never share staging tables or pipeline state."""

from __future__ import annotations

import re
from pathlib import Path

import dlt
from dlt.common.destination import Destination

TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]{0,40}$")


def dataset_name(tenant: str) -> str:
    if not TENANT_PATTERN.match(tenant):
        raise ValueError(f"tenant id {tenant!r} must be lowercase letters, digits and _ (≤ 41 chars)")
    return f"t_{tenant}"


def destination_from_url(url: str) -> Destination:
    """`duckdb:///path/to/file.duckdb` or `postgresql://user@host:port/db`."""
    if url.startswith("duckdb:///"):
        path = Path(url.removeprefix("duckdb:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.duckdb(str(path))
    if url.startswith(("postgresql://", "postgres://")):
        return dlt.destinations.postgres(url)
    raise ValueError(f"unsupported warehouse URL {url.split(':', 1)[0]}: use duckdb:///FILE or postgresql://…")


def tenant_pipeline(tenant: str, marketplace: str, warehouse_url: str, pipelines_dir: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"{marketplace}_{tenant}",
        destination=destination_from_url(warehouse_url),
        dataset_name=dataset_name(tenant),
        pipelines_dir=str(pipelines_dir),
        progress="log",
    )

"""What the runs write for operators: marketplace calls per endpoint family, rows loaded, Sheets
publishes. The API's /metrics reads these rows at scrape time (warehouse/platform_stats.py).

Rows are only ever added: the exported counters are sums over them, and a sum that shrank would
look to Prometheus like a counter reset. Retention, when it comes, must roll rows up, not delete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from warehouse.models import (
    MARKETPLACES,
    SHEET_PUBLISH_OUTCOMES,
    MarketplaceCalls,
    MarketplaceLoad,
    SheetPublish,
)


@dataclass(frozen=True)
class FamilyCalls:
    """One endpoint family's tally in one sync."""

    family: str
    requests: int = 0
    throttled: int = 0
    server_errors: int = 0
    retries: int = 0


def record_marketplace_calls(
    session: Session,
    tenant_id: str,
    marketplace: str,
    calls: Iterable[FamilyCalls],
    rows_loaded: int,
    run_id: str | None = None,
) -> None:
    if marketplace not in MARKETPLACES:
        raise ValueError(f"unknown marketplace {marketplace!r}")
    for tally in calls:
        session.add(
            MarketplaceCalls(
                run_id=run_id,
                tenant_id=tenant_id,
                marketplace=marketplace,
                family=tally.family,
                requests=tally.requests,
                throttled=tally.throttled,
                server_errors=tally.server_errors,
                retries=tally.retries,
            )
        )
    session.add(
        MarketplaceLoad(run_id=run_id, tenant_id=tenant_id, marketplace=marketplace, rows_loaded=rows_loaded)
    )
    session.commit()


def record_sheet_publish(
    session: Session, service_account: str, outcome: str, writes: int, error: str | None = None
) -> None:
    if outcome not in SHEET_PUBLISH_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(SHEET_PUBLISH_OUTCOMES)}, not {outcome!r}")
    session.add(SheetPublish(service_account=service_account, outcome=outcome, writes=writes, error=error))
    session.commit()

"""What the runs write for operators: marketplace calls per endpoint family, rows loaded, Sheets
publishes, finished syncs. Each record also adds to the running totals (warehouse/counters.py)
in the same transaction; the API's /metrics reads those totals at scrape time
(warehouse/platform_stats.py), the records keep the per-run detail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from warehouse import counters
from warehouse.models import (
    MARKETPLACES,
    SHEET_PUBLISH_OUTCOMES,
    MarketplaceCalls,
    MarketplaceLoad,
    SheetPublish,
)

# Sync duration buckets (seconds): a sync takes seconds to tens of minutes (the WB remains report
# alone can take minutes); the top bucket is the slowest cadence.
DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


def count_finished_sync(session: Session, tier: str, status: str, seconds: float) -> None:
    """Add one finished sync to the totals; the caller commits with the sync's row."""
    increments = {
        counters.key("syncs", tier=tier, outcome=status): 1.0,
        counters.key("sync_duration_count", tier=tier): 1.0,
        counters.key("sync_duration_sum", tier=tier): max(0.0, seconds),
        counters.key("sync_duration_bucket", tier=tier, le="+Inf"): 1.0,
    }
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            increments[counters.key("sync_duration_bucket", tier=tier, le=str(bound))] = 1.0
    counters.add(session, increments)


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
    increments: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {
        counters.key("rows_loaded", marketplace=marketplace): float(rows_loaded)
    }
    for tally in calls:
        for name in ("requests", "throttled", "server_errors", "retries"):
            increments[counters.key(f"marketplace_{name}", marketplace=marketplace, family=tally.family)] = (
                float(getattr(tally, name))
            )
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
    counters.add(session, increments)
    session.commit()


def record_sheet_publish(
    session: Session, service_account: str, outcome: str, writes: int, error: str | None = None
) -> None:
    if outcome not in SHEET_PUBLISH_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(SHEET_PUBLISH_OUTCOMES)}, not {outcome!r}")
    session.add(SheetPublish(service_account=service_account, outcome=outcome, writes=writes, error=error))
    counters.add(
        session,
        {counters.key("sheet_publishes", outcome=outcome): 1.0, counters.key("sheet_writes"): float(writes)},
    )
    session.commit()

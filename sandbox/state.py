"""Everything the running sandbox knows: the scenario's accounts, switches, buckets, faults, log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.faults import FaultInjector, RequestLog
from sandbox.ratelimit import TokenBuckets
from sandbox.scenario import Scenario, WbWarehouseMode, time_shift


@dataclass
class Switches:
    """Behaviour toggles, settable over the control API (`POST /_control/settings`)."""

    # The WB warehouse mode of sellers without their own `wb_warehouse_mode` in the scenario: a
    # seller's own mode is part of its data (one seller on pre-2026 reporting next to one on today's).
    wb_warehouse_mode: WbWarehouseMode = "detailed"
    # /api/v1/supplier/stocks was switched off on 2026-06-23; on only to test legacy clients.
    wb_legacy_supplier_stocks: bool = False
    # Ozon says /v2/analytics/stock_on_warehouses "will be switched off"; off simulates that day.
    ozon_stock_on_warehouses: bool = True
    # Seconds (before time scaling) a warehouse_remains task spends in `new` and in `processing`.
    wb_report_new_seconds: float = 5.0
    wb_report_processing_seconds: float = 10.0
    # Rows per supplier/orders page (WB: ~80 000 since 2026-01-30); lowered in tests to see paging.
    wb_orders_page_rows: int = 80_000
    # Google Sheets per-user quota (requests per minute per service account), before time scaling.
    sheets_reads_per_minute: int = 60
    sheets_writes_per_minute: int = 60
    time_scale: float = 1.0
    # Identities the supply guard checks (warehouse/supply_guard.py) that the sandbox breaks on
    # purpose: `wb_remains_total`, `wb_report_vs_remains`, `ozon_clusters_vs_totals`.
    broken_identities: list[str] = field(default_factory=list)


@dataclass
class SandboxState:
    switches: Switches = field(default_factory=Switches)
    buckets: TokenBuckets = field(default_factory=TokenBuckets)
    faults: FaultInjector = field(default_factory=FaultInjector)
    log: RequestLog = field(default_factory=RequestLog)
    scenario: Scenario | None = None
    wb_accounts: dict[str, Any] = field(default_factory=dict)  # token -> WbAccount
    ozon_accounts: dict[str, Any] = field(default_factory=dict)  # client_id -> OzonAccount
    extras: dict[str, Any] = field(default_factory=dict)  # per-service state (report tasks, …)

    def load(self, scenario: Scenario) -> None:
        # Imported here: the service modules import this one for typing.
        from sandbox.ozon.model import OzonAccount
        from sandbox.wb.model import WbAccount

        now = datetime.now(UTC)
        shift = time_shift(scenario, now)
        wb: dict[str, Any] = {}
        ozon: dict[str, Any] = {}
        for seller in scenario["sellers"]:
            if seller["marketplace"] == "wildberries":
                wb[seller["credentials"]["token"]] = WbAccount.build(seller, shift, now)
            else:
                ozon[seller["credentials"]["client_id"]] = OzonAccount.build(seller, shift, now)
        self.scenario, self.wb_accounts, self.ozon_accounts = scenario, wb, ozon
        self.switches.wb_warehouse_mode = scenario.get("wb_warehouse_mode", "detailed")
        self.extras.clear()
        self.buckets.reset()

    def wb_warehouse_mode(self, account: Any) -> WbWarehouseMode:
        """How WB names its own warehouses for this seller (a `WbAccount`)."""
        return account.warehouse_mode or self.switches.wb_warehouse_mode

    def set_time_scale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("time_scale must be positive")
        self.switches.time_scale = scale
        self.buckets.time_scale = scale

"""Whole syncs through the Dagster job: snapshots equal the marketplace, history grows by one per
sync, a failed sync keeps the last good snapshot, tenants never touch each other's data."""

from __future__ import annotations

from datetime import datetime

import orjson
from dagster import AssetKey, DagsterEventType

from tests.orchestration.conftest import Platform, expected_units, snapshot_units
from warehouse.tenants import set_tier

WB_ONLY, BOTH = "seller-1-severnyi-len", "seller-2-urban-fox"


def test_sync_of_both_tenants_equals_the_scenario_and_history_grows_by_one(platform: Platform) -> None:
    for tenant in (WB_ONLY, BOTH):
        outcome = platform.sync(tenant)
        assert outcome.success, outcome.error
        mart = platform.mart(tenant)
        try:
            assert snapshot_units(mart) == expected_units(platform.sellers(tenant))
            assert len(mart.snapshots()) == 1
            metrics = mart.current_stock()
            assert {m["marketplace"] for m in metrics} == {s["marketplace"] for s in platform.sellers(tenant)}
            first_metrics = sorted(
                (m["marketplace"], m["product_id"], m["warehouse_name"], m["stock"], m["orders"])
                for m in metrics
            )
        finally:
            mart.close()

        again = platform.sync(tenant)
        assert again.success, again.error
        mart = platform.mart(tenant)
        try:
            assert len(mart.snapshots()) == 2
            assert snapshot_units(mart) == expected_units(platform.sellers(tenant))
            assert (
                sorted(
                    (m["marketplace"], m["product_id"], m["warehouse_name"], m["stock"], m["orders"])
                    for m in mart.current_stock()
                )
                == first_metrics
            )
        finally:
            mart.close()


def test_failed_sync_keeps_the_previous_snapshot_current(platform: Platform) -> None:
    assert platform.sync(WB_ONLY).success
    mart = platform.mart(WB_ONLY)
    try:
        before = (mart.snapshots(), snapshot_units(mart), mart.current_stock())
    finally:
        mart.close()
    platform.fault(
        service="wb_analytics",
        endpoint="/api/analytics/v1/stocks-report/wb-warehouses",
        kind="500",
        fraction=1.0,
    )
    failed = platform.sync(WB_ONLY)
    assert not failed.success
    assert "stocks-report/wb-warehouses" in (failed.error or "") and "HTTP 500" in (failed.error or "")
    mart = platform.mart(WB_ONLY)
    try:
        assert (mart.snapshots(), snapshot_units(mart), mart.current_stock()) == before
    finally:
        mart.close()


def test_a_run_for_a_tier_the_tenant_left_does_nothing_and_says_why(platform: Platform) -> None:
    with platform.session() as session:
        set_tier(session, WB_ONLY, "pro")
    tenant = platform.tenants()[WB_ONLY]
    stale = type(tenant)(**{**tenant.__dict__, "tier": "starter"})  # the run a starter schedule queued
    from assets.runs import run_sync

    outcome = run_sync(platform.defs, platform.instance, stale, "schedule")
    assert outcome.success
    materialized = platform.instance.all_logs(outcome.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    assert materialized == []
    messages = [e.user_message for e in platform.instance.all_logs(outcome.run_id)]
    assert any("on the pro tier now, not starter" in m for m in messages)
    mart = platform.mart(WB_ONLY)
    try:
        assert mart.snapshots() == []
    finally:
        mart.close()


def test_tenant_runs_never_touch_another_tenants_data(platform: Platform) -> None:
    # The other tenant's keys are broken: syncing this one must not even look at them.
    platform.fault(service="ozon", endpoint="*", kind="401", fraction=1.0)
    assert platform.sync(WB_ONLY).success
    other = platform.mart(BOTH)
    try:
        assert other.snapshots() == [] and other.current_stock() == []
        assert not other.has_raw("wildberries")
    finally:
        other.close()
    mine = platform.mart(WB_ONLY)
    try:
        tenants = mine.rows("select distinct tenant_id from mart.stock_snapshot")
        assert tenants == [(WB_ONLY,)]
    finally:
        mine.close()


def test_no_secret_appears_in_dagster_events_tags_or_metadata(platform: Platform) -> None:
    for tenant in (WB_ONLY, BOTH):
        assert platform.sync(tenant).success
    platform.fault(service="wb_content", endpoint="*", kind="401", fraction=1.0)
    assert not platform.sync(WB_ONLY).success  # errors are scanned too
    secrets = [platform.key]
    for seller in platform.scenario["sellers"]:
        secrets += [v for k, v in seller["credentials"].items() if k != "client_id"]
    records = platform.instance.get_run_records()
    assert len(records) == 3
    for record in records:
        dumped = orjson.dumps(
            {"tags": record.dagster_run.tags, "config": record.dagster_run.run_config}, default=str
        ).decode()
        for entry in platform.instance.all_logs(record.dagster_run.run_id):
            dumped += repr(entry)
        for secret in secrets:
            assert secret not in dumped


def test_materializations_carry_counts(platform: Platform) -> None:
    outcome = platform.sync(BOTH)
    assert outcome.success
    events = platform.instance.fetch_materializations(AssetKey("stock_snapshot"), limit=1).records
    metadata = events[0].asset_materialization.metadata
    units = sum(expected_units(platform.sellers(BOTH)).values())
    assert metadata["units"].value == units
    assert datetime.fromisoformat(metadata["snapshot_at"].value)

"""Schedules request only their tier's tenants; the sensor keeps tenant partitions current; the
asset graph is as reviewed (snapshot)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import build_schedule_context, build_sensor_context

from assets.jobs import TIER_PRIORITY
from assets.partitions import tenant_partitions
from tests.orchestration.conftest import Platform
from warehouse.tenants import create_tenant, set_status, set_tier

SNAPSHOT = Path(__file__).with_name("asset_graph.json")
WB_ONLY, BOTH = "seller-1-severnyi-len", "seller-2-urban-fox"


def _resources(platform: Platform) -> dict[str, object]:
    return {"tenants": platform.defs.resources["tenants"]}


def _requests(platform: Platform, tier: str) -> list:
    schedule = platform.defs.resolve_schedule_def(f"{tier}_sync")
    context = build_schedule_context(
        instance=platform.instance,
        resources=_resources(platform),
        scheduled_execution_time=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        repository_def=platform.defs.get_repository_def(),
    )
    result = schedule.evaluate_tick(context)
    return list(result.run_requests or [])


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_schedules_request_only_tenants_on_their_tier(platform: Platform) -> None:
    platform.instance.add_dynamic_partitions(tenant_partitions.name, [WB_ONLY, BOTH])
    with platform.session() as session:
        set_tier(session, BOTH, "enterprise")
    starter = _requests(platform, "starter")
    assert [r.partition_key.keys_by_dimension for r in starter] == [{"tenant": WB_ONLY, "tier": "starter"}]
    assert starter[0].tags["tenant"] == WB_ONLY and starter[0].tags["dagster/priority"] == "0"
    # A WB-only tenant's run does not select the Ozon assets.
    assert not [k for k in starter[0].asset_selection if "ozon" in k.to_user_string()]
    enterprise = _requests(platform, "enterprise")
    assert [r.partition_key.keys_by_dimension["tenant"] for r in enterprise] == [BOTH]
    assert enterprise[0].tags["dagster/priority"] == str(TIER_PRIORITY["enterprise"])
    assert {k.to_user_string() for k in enterprise[0].asset_selection} >= {"raw/ozon_stock", "raw/wb_stock"}
    assert enterprise[0].run_key.startswith("enterprise:" + BOTH)
    assert _requests(platform, "pro") == []


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_sensor_adds_and_removes_tenant_partitions(platform: Platform) -> None:
    sensor = platform.defs.resolve_sensor_def("tenant_partitions")

    def tick() -> tuple[list[str], list[str]]:
        result = sensor.evaluate_tick(
            build_sensor_context(instance=platform.instance, resources=_resources(platform))
        )
        added, removed = [], []
        for request in result.dynamic_partitions_requests or []:
            (added if type(request).__name__ == "AddDynamicPartitionsRequest" else removed).extend(
                request.partition_keys
            )
        platform.instance.add_dynamic_partitions(tenant_partitions.name, added)
        for key in removed:
            platform.instance.delete_dynamic_partition(tenant_partitions.name, key)
        return added, removed

    assert tick() == ([WB_ONLY, BOTH], [])
    assert tick() == ([], [])
    with platform.session() as session:
        create_tenant(session, "new-shop", "New Shop")
        set_status(session, WB_ONLY, "deleted")
    assert tick() == (["new-shop"], [WB_ONLY])
    assert sorted(platform.instance.get_dynamic_partitions(tenant_partitions.name)) == ["new-shop", BOTH]


def graph_snapshot(defs) -> dict:  # type: ignore[no-untyped-def]
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(d.to_user_string() for d in node.parent_keys),
            "partitions": " × ".join(
                f"{d.name}:{type(d.partitions_def).__name__}" for d in node.partitions_def.partitions_defs
            ),
            "checks": sorted(c.name for c in node.check_keys),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": {s.name: s.cron_schedule for s in defs.schedules},
        "sensors": sorted(s.name for s in defs.sensors),
    }


@pytest.mark.parametrize("platform", ["embedded"], indirect=True)
def test_asset_graph_matches_the_reviewed_snapshot(platform: Platform) -> None:
    current = graph_snapshot(platform.defs)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), "asset graph changed: review, then UPDATE_SNAPSHOTS=1"


def test_definitions_load_from_the_code_location(tmp_path: Path) -> None:
    """workspace.yaml's file loads on its own (a fresh process, as Dagster loads it) with the
    embedded default settings."""
    env = {**os.environ, "STOCK_TRACKER_HOME": str(tmp_path)}
    env.pop("STOCK_TRACKER_ENCRYPTION_KEYS", None)
    code = "import definitions; job = definitions.defs.resolve_job_def('tenant_sync'); print(job.name)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "tenant_sync"
    # The embedded default generated its own key, readable by its owner only.
    assert (tmp_path / "secrets" / "fernet.keys").stat().st_mode & 0o777 == 0o600

"""One schedule per tier: starter every 2 h, pro every 30 min, enterprise every 10 min."""

from collections.abc import Iterator

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from assets.jobs import SYNC_JOB, sync_selection, sync_tags
from assets.partitions import partition_key, tenant_partitions
from resources.tenants import TenantDirectory

CADENCE = {"starter": "0 */2 * * *", "pro": "*/30 * * * *", "enterprise": "*/10 * * * *"}


def tier_schedule(tier: str) -> ScheduleDefinition:
    @schedule(
        name=f"{tier}_sync",
        cron_schedule=CADENCE[tier],
        job_name=SYNC_JOB,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Syncs every active tenant on the {tier} tier.",
    )
    def _schedule(
        context: ScheduleEvaluationContext, tenants: TenantDirectory
    ) -> Iterator[RunRequest | SkipReason]:
        known = set(context.instance.get_dynamic_partitions(tenant_partitions.name))
        stamp = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "now"
        requested = 0
        blocked = tenants.sync_blocked()  # the plan stopped their syncs (DESIGN §6a)
        for tenant in tenants.active():
            # Tenants the partition sensor has not added yet are picked up on the next tick.
            if (
                tenant.tier != tier
                or tenant.id not in known
                or not tenant.marketplaces
                or tenant.id in blocked
            ):
                continue
            requested += 1
            yield RunRequest(
                run_key=f"{tier}:{tenant.id}:{stamp}",
                partition_key=partition_key(tenant.id, tier),
                tags=sync_tags(tenant.id, tier, "schedule"),
                asset_selection=sync_selection(tenant.marketplaces),
            )
        if not requested:
            yield SkipReason(f"No active tenant with marketplace keys on the {tier} tier.")

    return _schedule


SCHEDULES = [tier_schedule(t) for t in CADENCE]

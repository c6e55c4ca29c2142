"""Keeps the `tenant` partition keys in step with the tenants in the app database."""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from assets.partitions import tenant_partitions
from resources.tenants import TenantDirectory


@sensor(
    name="tenant_partitions",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds a partition key for each new tenant and removes the keys of tenants gone.",
)
def tenant_partitions_sensor(
    context: SensorEvaluationContext, tenants: TenantDirectory
) -> SensorResult | SkipReason:
    wanted = {t.id for t in tenants.active()}
    known = set(context.instance.get_dynamic_partitions(tenant_partitions.name))
    added, removed = sorted(wanted - known), sorted(known - wanted)
    if not added and not removed:
        return SkipReason(f"{len(known)} tenant partitions, all current.")
    requests = []
    if added:
        requests.append(tenant_partitions.build_add_request(added))
    if removed:
        requests.append(tenant_partitions.build_delete_request(removed))
    context.log.info(f"tenant partitions: +{added} -{removed}")
    return SensorResult(dynamic_partitions_requests=requests)

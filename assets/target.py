"""What a run of one tenant × tier partition is about: the tenant as it is now, or a reason to skip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import AssetExecutionContext, MultiPartitionKey

from resources.sentry import tag_tenant
from resources.tenants import TenantDirectory
from warehouse.tenants import TenantInfo


@dataclass(frozen=True)
class SyncTarget:
    tenant: TenantInfo
    tier: str
    snapshot_at: datetime  # one stamp for everything this run loads: the run's creation time


def resolve(context: AssetExecutionContext, tenants: TenantDirectory) -> SyncTarget | None:
    """The tenant of this partition if it is active on this tier; otherwise log why and return None.

    A schedule may have queued a run before the tenant changed plan or left: that run does nothing.
    """
    key = context.partition_key
    assert isinstance(key, MultiPartitionKey)
    tenant_id, tier = key.keys_by_dimension["tenant"], key.keys_by_dimension["tier"]
    tenant = tenants.tenant(tenant_id)
    if tenant is None:
        context.log.warning(f"Tenant {tenant_id} is not active any more: nothing to sync.")
        return None
    if tenant.tier != tier:
        context.log.warning(
            f"Tenant {tenant_id} is on the {tenant.tier} tier now, not {tier}: this run syncs nothing "
            f"(the {tenant.tier} schedule covers it)."
        )
        return None
    tag_tenant(tenant_id, tier)  # what this step reports to Sentry names its tenant
    record = context.instance.get_run_record_by_id(context.run_id)
    created = record.create_timestamp if record else datetime.now(UTC)
    return SyncTarget(tenant, tier, created.astimezone(UTC))

"""What a run of one tenant × tier partition is about: the tenant as it is now, or a reason to skip."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dagster import AssetExecutionContext, MultiPartitionKey, asset

from assets.partitions import tenant_tier_partitions
from resources.sentry import tag_tenant
from resources.tenants import TenantDirectory
from resources.warehouse import WarehouseResource
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


def tenant_asset(**kwargs: Any) -> Callable[..., Any]:
    """`@asset` of one tenant × tier partition: `resolve` may find nothing to do (a tenant that left
    or changed tier), so it may end without an output."""
    return asset(partitions_def=tenant_tier_partitions, output_required=False, **kwargs)


ModelBody = Callable[[AssetExecutionContext, SyncTarget, TenantDirectory, WarehouseResource], Iterator[Any]]


def tenant_model_asset(**kwargs: Any) -> Callable[[ModelBody], Any]:
    """A `tenant_asset` over the tenant's warehouse: `body(context, target, tenants, warehouse)`
    runs only when `resolve` finds the partition's tenant active on its tier (else no output).
    No `from __future__ import annotations` here: Dagster reads `run`'s annotations as types."""

    def decorate(body: ModelBody) -> Any:
        def run(
            context: AssetExecutionContext, tenants: TenantDirectory, warehouse: WarehouseResource
        ) -> Iterator[Any]:
            target = resolve(context, tenants)
            if target is not None:
                yield from body(context, target, tenants, warehouse)

        run.__name__, run.__doc__ = body.__name__, body.__doc__  # the asset's name
        return tenant_asset(**kwargs)(run)

    return decorate

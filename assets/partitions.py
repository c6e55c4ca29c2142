"""Every asset is partitioned by tenant (dynamic, one key per tenant) × plan tier (static)."""

from __future__ import annotations

from dagster import (
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

TIERS = ("starter", "pro", "enterprise")
tenant_partitions = DynamicPartitionsDefinition(name="tenant")
tier_partitions = StaticPartitionsDefinition(list(TIERS))
tenant_tier_partitions = MultiPartitionsDefinition({"tenant": tenant_partitions, "tier": tier_partitions})


def partition_key(tenant: str, tier: str) -> MultiPartitionKey:
    return MultiPartitionKey({"tenant": tenant, "tier": tier})

"""A tenant's supply-plan settings: target cover, lead times, box multiples, products left out.

Kept as one JSON document per tenant (`supply_plan_settings`, migration 0010): the seller edits
them as a whole through `PUT /api/v1/supply-plan/settings`, the plan reads them as a whole.

Lead times (days from "shipped" to "on sale at the destination") default to what sellers
typically see: WB 7 days to a WB warehouse, Ozon 10 days to a cluster (a supply slot, then the
cross-dock), 2 days to the seller's own (FBS) warehouse. A destination can override its
marketplace's default by name (an Ozon cluster, a WB warehouse or `Склад WB`, an FBS warehouse as
the plan names it, `<name> (FBS)`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from warehouse.models import SupplyPlanSettings

Marketplace = Literal["wildberries", "ozon"]
Days = Annotated[int, Field(ge=0, le=365)]
DEFAULT_LEAD_TIMES: dict[str, int] = {"wildberries": 7, "ozon": 10, "fbs": 2}


class LeadTimes(BaseModel):
    """Default lead time per marketplace, and for any seller (FBS) warehouse."""

    model_config = ConfigDict(extra="forbid")
    wildberries: Days = DEFAULT_LEAD_TIMES["wildberries"]
    ozon: Days = DEFAULT_LEAD_TIMES["ozon"]
    fbs: Days = DEFAULT_LEAD_TIMES["fbs"]


class DestinationLeadTime(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marketplace: Marketplace
    destination: Annotated[str, Field(min_length=1, max_length=200)]
    days: Days


class BoxMultiple(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marketplace: Marketplace
    product_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    multiple: Annotated[int, Field(ge=1, le=100_000)]


class ProductRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marketplace: Marketplace
    product_id: Annotated[int, Field(ge=1, le=2**63 - 1)]


class SupplySettings(BaseModel):
    """What the seller sets; every field has a default, so `{}` is a valid document."""

    model_config = ConfigDict(extra="forbid")
    target_cover_days: Annotated[int, Field(ge=1, le=365)] = 30
    lead_times: LeadTimes = LeadTimes()
    destination_lead_times: Annotated[list[DestinationLeadTime], Field(max_length=1000)] = []
    box_multiples: Annotated[list[BoxMultiple], Field(max_length=100_000)] = []
    excluded_products: Annotated[list[ProductRef], Field(max_length=100_000)] = []

    @model_validator(mode="after")
    def _one_value_each(self) -> SupplySettings:
        # Two values for one thing would make the plan depend on list order: refuse instead.
        for name, keys in (
            ("destination_lead_times", [(d.marketplace, d.destination) for d in self.destination_lead_times]),
            ("box_multiples", [(b.marketplace, b.product_id) for b in self.box_multiples]),
        ):
            if len(set(keys)) != len(keys):
                raise ValueError(f"{name}: one entry per marketplace and {name.split('_')[0]}")
        return self


def load_settings(session: Session, tenant_id: str) -> SupplySettings:
    row = session.scalar(select(SupplyPlanSettings).where(SupplyPlanSettings.tenant_id == tenant_id))
    return SupplySettings() if row is None else SupplySettings.model_validate(row.settings)


def save_settings(session: Session, tenant_id: str, settings: SupplySettings) -> None:
    row = session.get(SupplyPlanSettings, tenant_id)
    document = settings.model_dump(mode="json")
    if row is None:
        session.add(SupplyPlanSettings(tenant_id=tenant_id, settings=document, updated_at=datetime.now(UTC)))
    else:
        row.settings, row.updated_at = document, datetime.now(UTC)
    session.commit()

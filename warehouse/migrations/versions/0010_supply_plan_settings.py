"""supply plan settings

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:30:00.000000

One JSON document per tenant (warehouse/supply_settings.py). The API edits it in the tenant's
scoped session (migration 0002), so that role may read and write it, fenced by row-level security.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_ROLE = "stock_tracker_tenant"
SETTING = "stock_tracker.tenant_id"


def upgrade() -> None:
    op.create_table(
        "supply_plan_settings",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_supply_plan_settings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_supply_plan_settings")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON supply_plan_settings TO {TENANT_ROLE}")
        op.execute("ALTER TABLE supply_plan_settings ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON supply_plan_settings TO {TENANT_ROLE} "
            f"USING (tenant_id = current_setting('{SETTING}', true))"
        )


def downgrade() -> None:
    op.drop_table("supply_plan_settings")

"""telegram: report and alert deliveries per chat, alert state

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telegram_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("totals", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('report', 'digest', 'alert')", name=op.f("ck_telegram_deliveries_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'superseded')",
            name=op.f("ck_telegram_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_telegram_deliveries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_deliveries")),
        sa.UniqueConstraint(
            "tenant_id", "chat_id", "key", name=op.f("uq_telegram_deliveries_tenant_id_chat_id_key")
        ),
    )
    with op.batch_alter_table("telegram_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_telegram_deliveries_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )
    op.create_table(
        "telegram_alert_states",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_telegram_alert_states_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "chat_id", "key", name=op.f("pk_telegram_alert_states")),
    )


def downgrade() -> None:
    op.drop_table("telegram_alert_states")
    with op.batch_alter_table("telegram_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_telegram_deliveries_status_next_attempt_at")
    op.drop_table("telegram_deliveries")

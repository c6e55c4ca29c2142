"""sheets write budget

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 05:10:00.000000

The shared Google Sheets budget (resources/sheets_budget.py): a token bucket per service account
that every process draws from before calling Google.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sheets_write_budget",
        sa.Column("service_account", sa.String(length=400), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("service_account", name=op.f("pk_sheets_write_budget")),
    )


def downgrade() -> None:
    op.drop_table("sheets_write_budget")

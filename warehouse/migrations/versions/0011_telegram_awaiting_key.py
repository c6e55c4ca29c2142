"""telegram: the chat waiting for a marketplace key after /connect

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 19:00:00

The state lived in one bot process's memory, so with several API workers taking webhook updates
the key could reach a worker that never saw /connect and got the help text instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("telegram_chats") as table:
        table.add_column(sa.Column("awaiting_key_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("telegram_chats") as table:
        table.drop_column("awaiting_key_until")

"""user telegram id

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000

The Telegram user id a seller may give at sign-up (`telegram_id`, as the predecessor's API took
it), kept on the user so the bot can link that chat. Nullable: most users have none. Indexed: the
bot looks users up by it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_telegram_id"), ["telegram_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_telegram_id"))
        batch_op.drop_column("telegram_id")

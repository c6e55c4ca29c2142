"""user ids are never reused

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:30:00.000000

SQLite hands out max(rowid) + 1, so removing the newest user made their id the next user's, and
whatever still named the old id pointed at the new account. `AUTOINCREMENT` (a rebuild of the
table on SQLite) keeps ids increasing for good. PostgreSQL sequences never reuse ids: nothing to do.

The rebuild drops the old table, and with foreign keys on (app_db.py) dropping it would cascade
to the sign-ins in `refresh_tokens`; they are kept aside and put back, so nobody is signed out.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild_users(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE TEMP TABLE refresh_tokens_kept AS SELECT * FROM refresh_tokens")
    with op.batch_alter_table(
        "users", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass
    op.execute("DELETE FROM refresh_tokens")
    op.execute("INSERT INTO refresh_tokens SELECT * FROM refresh_tokens_kept")
    op.execute("DROP TABLE refresh_tokens_kept")


def upgrade() -> None:
    _rebuild_users(autoincrement=True)


def downgrade() -> None:
    _rebuild_users(autoincrement=False)

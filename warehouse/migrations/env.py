"""Alembic environment for the app database.

`app_db.migrate` (on start) hands over an open connection. Without one — `alembic upgrade head`
run by hand from the repository root (alembic.ini) — the app database of the settings object is
used, under the same PostgreSQL lock.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from warehouse.models import Base, UtcDateTime

config = context.config


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Revisions must not import the models (they change later): write UtcDateTime as the
    # plain column type it stores as.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        # SQLite alters tables by rebuilding them; batch ops do that there and plain ALTERs on
        # PostgreSQL, so one revision serves both.
        render_as_batch=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from settings import get_settings
    from warehouse.app_db import engine_for, lock_for_migration

    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    with engine_for(get_settings().app_database_url).begin() as own:
        lock_for_migration(own)
        _run(own)

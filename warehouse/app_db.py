"""The app database: one engine per URL, sessions, and `alembic upgrade head` on start (in code;
alembic.ini at the repository root runs the same migrations by hand).

SQLite (embedded default) and PostgreSQL (production) take the same URLs the settings hold;
`database_url` is the one place that turns them into what SQLAlchemy needs.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from warehouse.models import Base
from warehouse.private_files import private_dir, private_file

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where a migration runs, not here: every Dagster run process imports this
# module, and Alembic alone is ≈ 1 CPU s of a run's start (bench/bench_fleet.py).

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works: it only has to be the same for every process migrating one database.
_PG_MIGRATION_LOCK = 0x5707C7


def database_url(url: str) -> str:
    """The SQLAlchemy URL: psycopg 3 for PostgreSQL (SQLAlchemy's bare `postgresql://` means psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> Engine:
    """The process's engine for `url` (one pool per database, created on first use)."""
    normalized = database_url(url)
    with _engines_lock:
        engine = _engines.get(normalized)
        if engine is None:
            engine = _engines[normalized] = _create(normalized)
        return engine


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = Path(parsed.database) if parsed.database and parsed.database != ":memory:" else None
    if database is not None:
        private_dir(database.parent)
    # CLI commands, Dagster runs and the API share one file: wait for a lock instead of failing.
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")  # SQLite ignores foreign keys unless asked
        cursor.close()
        if database is not None:
            private_file(database)

    return engine


def session_factory(url: str) -> sessionmaker[Session]:
    # expire_on_commit=False: crud functions commit and hand their objects back to callers that
    # read them after the session closed (CLI output, API responses).
    return sessionmaker(engine_for(url), expire_on_commit=False)


def _alembic_config(connection: Any) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def lock_for_migration(connection: Connection) -> None:
    """On PostgreSQL, wait until no other process migrates this database; the lock ends with the
    connection's transaction. Two processes starting at once (API replicas, a CLI command, an
    `alembic upgrade head` by hand) must not both create tables."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})


def migrate(url: str) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    from alembic import command

    engine = engine_for(url)
    with engine.begin() as connection:
        lock_for_migration(connection)
        command.upgrade(_alembic_config(connection), "head")


def new_revision(message: str) -> None:
    """Autogenerate the next revision from the models (the developer's `alembic revision --autogenerate`)."""
    from alembic import command

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'app.db'}"
        migrate(url)
        engine = engine_for(url)
        with engine.begin() as connection:
            command.revision(_alembic_config(connection), message=message, autogenerate=True)
        engine.dispose()
        _engines.pop(database_url(url), None)


def schema_diff(url: str) -> list[Any]:
    """What autogenerate would still write for this database (`alembic check`): empty when in step."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine_for(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

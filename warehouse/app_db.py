"""The app database: one engine per URL, sessions, and `alembic upgrade head` on start (in code;
alembic.ini at the repository root runs the same migrations by hand).

SQLite (embedded default) and PostgreSQL (production) take the same URLs the settings hold;
`database_url` is the one place that turns them into what SQLAlchemy needs.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
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


# PostgreSQL pools. Kept connections: a request beyond `pool_size` opened a connection of its own
# and closed it when done, and each one is a new server process (bench/bench_load.py: a busy API
# spent more on connecting than on its queries). The API admits 12 requests per worker at once
# (settings.api_max_in_flight), so 15 kept connections serve them all; a process opens only as many
# as it uses at the same time (a CLI command one).
POOL_SIZE = 15
MAX_OVERFLOW = 5
# A connection back in the pool within this many seconds was working then: it is used without
# asking the server first. One idle longer is pinged (the server may have restarted meanwhile), so
# a busy process saves a round trip per checkout. A connection that dies in between fails its
# request (503, api/errors.py) and SQLAlchemy drops the whole pool, which reconnects by itself.
PING_IDLE_SECONDS = 1.0


def postgres_engine(url: str, **options: Any) -> Engine:
    """A PostgreSQL engine with kept connections, pinged only after being idle (see above)."""
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, **options)

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_IDLE_SECONDS:
            return  # just connected, or just working
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (SQLAlchemy's documented
            # pessimistic disconnect handling).
            raise DisconnectionError(type(exc).__name__) from exc

    return engine


def _create(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return postgres_engine(url)
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

"""Shared fixtures: a real PostgreSQL server (a fresh database per test) and a real Redis.

Both are the servers at `TEST_DATABASE_URL` / `TEST_REDIS_URL` when they answer, otherwise throwaway
ones started once per session (tests/services.py): nothing is skipped for a missing service.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.services import (
    EmbeddedPostgres,
    EmbeddedRedis,
    configured_database_url,
    configured_redis_url,
    postgres_answers,
    redis_answers,
)

# What the session used, for the closing summary.
_USED: dict[str, str] = {}


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    """A superuser URL on a PostgreSQL server that tests may create and drop databases on."""
    url = configured_database_url()
    if postgres_answers(url):
        _USED["PostgreSQL"] = f"{url} (answered)"
        yield url
        return
    server = EmbeddedPostgres()
    try:
        url = server.start()
        _USED["PostgreSQL"] = f"embedded, {url} ({configured_database_url()} did not answer)"
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis (or Valkey) server URL shared by the session's tests."""
    url = configured_redis_url()
    if redis_answers(url):
        _USED["Redis"] = f"{url} (answered)"
        yield url
        return
    server = EmbeddedRedis()
    try:
        url = server.start()
        _USED["Redis"] = f"embedded Valkey, {url} ({configured_redis_url()} did not answer)"
        yield url
    finally:
        server.stop()


@pytest.fixture
def pg_url(admin_url: str) -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database; dropped afterwards."""
    name = f"st_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for service, where in _USED.items():
        terminalreporter.write_line(f"{service}: {where}")

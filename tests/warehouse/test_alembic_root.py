"""`alembic upgrade head` from the repository root (as the predecessor documented) migrates the
app database the settings name, next to the automatic migration on start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from warehouse.app_db import engine_for, migrate, schema_diff

REPO = Path(__file__).resolve().parents[2]
ALEMBIC = str(Path(sys.executable).with_name("alembic"))


def _alembic(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ALEMBIC, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCK_TRACKER_")}
    return {**env, "STOCK_TRACKER_HOME": str(home)}


def _head(url: str) -> str:
    with engine_for(url).connect() as connection:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_head_from_the_root_uses_the_settings_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    home = tmp_path / "home"
    env = _clean_env(home)
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        env["STOCK_TRACKER_APP_DATABASE_URL"] = url
    else:
        # No URL given: the embedded default of the settings object, SQLite in the home folder.
        url = f"sqlite:///{home / 'app.db'}"

    first = _alembic("upgrade", "head", env=env)
    assert first.returncode == 0, first.stderr
    assert "Running upgrade  -> 0001" in first.stderr  # it did the work, and says so
    try:
        assert schema_diff(url) == []  # the tables are exactly the models
        head = _head(url)
        # The automatic migration finds nothing to do, and so does a second run by hand.
        migrate(url)
        again = _alembic("upgrade", "head", env=env)
        assert again.returncode == 0 and "Running upgrade" not in again.stderr, again.stderr
        current = _alembic("current", env=env)
        assert f"{head} (head)" in current.stdout
    finally:
        engine_for(url).dispose()

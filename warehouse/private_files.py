"""Local state readable by its owner only: the app database, the warehouse files and the folders
holding them. They hold password hashes, sign-ins and every seller's stock; the secret files
beside them were already 0600 (settings.py).

Modes are set after the database library created a file (SQLite and DuckDB create with the
process umask), and again each time a connection opens, so a file made by another tool (dlt
writing a DuckDB file first) is tightened as soon as the app touches it.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# What SQLite and DuckDB keep beside a database file while writing.
_SIDE_FILES = ("-journal", "-wal", "-shm", ".wal")


def private_dir(path: Path) -> None:
    """`path` exists and only its owner may enter it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)


def private_file(path: Path) -> None:
    """The database file at `path` and its journals are the owner's only (those that exist)."""
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)):
        try:
            os.chmod(candidate, PRIVATE_FILE)
        except FileNotFoundError:
            continue

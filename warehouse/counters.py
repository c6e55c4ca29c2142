"""Running totals behind the operator's counters (`platform_counters`).

Writers add to them in the transaction that stores the record they count (a finished sync, a
load's marketplace calls, a Sheets publish), so every process — run pods, the daemon's sensors,
the API — adds to the same totals, and a scrape reads them in one small query however many
records exist. Totals only grow: Prometheus reads a decrease as a counter reset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from warehouse.models import PlatformCounter

_TABLE: Any = PlatformCounter.__table__
Increments = Mapping[tuple[str, tuple[tuple[str, str], ...]], float]


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def add(session: Session, increments: Increments) -> None:
    """Add to the totals; the caller commits (with the record they count)."""
    if not increments:
        return
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    rows = [
        {
            "name": name,
            "labels": orjson.dumps(dict(labels), option=orjson.OPT_SORT_KEYS).decode(),
            "value": value,
        }
        for (name, labels), value in sorted(increments.items())  # one order: no deadlocks between writers
    ]
    statement = insert(_TABLE).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[_TABLE.c.name, _TABLE.c.labels],
            set_={"value": _TABLE.c.value + statement.excluded.value},
        )
    )


def read(session: Session) -> list[tuple[str, dict[str, str], float]]:
    rows = session.execute(select(_TABLE.c.name, _TABLE.c.labels, _TABLE.c.value))
    return [(name, orjson.loads(labels), float(value)) for name, labels, value in rows]

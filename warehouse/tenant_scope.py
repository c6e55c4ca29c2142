"""The second wall of tenant isolation (DESIGN §7): sessions that can only see one tenant's rows.

Every query the API makes is already scoped by tenant id. On PostgreSQL, a tenant-scoped session
also runs each of its transactions as the role `stock_tracker_tenant` with the setting
`stock_tracker.tenant_id`, so row-level security (migration 0002) hides every other tenant's rows
even from a query that forgot its `WHERE`. SQLite has no such wall; the session there is a plain one.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from warehouse.app_db import engine_for
from warehouse.models import Tenant

TENANT_ROLE = "stock_tracker_tenant"
SETTING = "stock_tracker.tenant_id"
_SCOPE = f"SELECT set_config('role', '{TENANT_ROLE}', true), set_config('{SETTING}', %(tenant)s, true)"

_factories: dict[str, sessionmaker[Session]] = {}
_lock = threading.Lock()


def _scope_transaction(session: Session, transaction: SessionTransaction, connection: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None or connection.dialect.name != "postgresql":
        return
    # set_config(..., true) is SET LOCAL: it ends with the transaction, so a pooled connection never
    # carries one tenant's scope into another request; this hook re-applies it after each commit.
    # The role and the tenant in one statement: one round trip per transaction, not two.
    connection.exec_driver_sql(_SCOPE, {"tenant": tenant_id})


def tenant_session(url: str, tenant_id: str) -> Session:
    """A session whose every transaction sees only `tenant_id`'s rows (on PostgreSQL)."""
    with _lock:
        factory = _factories.get(url)
        if factory is None:
            factory = _factories[url] = sessionmaker(engine_for(url), expire_on_commit=False)
            event.listen(factory, "after_begin", _scope_transaction)
    session = factory()
    session.info["tenant_id"] = tenant_id
    return session


def lock_tenant(session: Session, tenant_id: str) -> None:
    """Hold the tenant's row until the session commits: requests that must not overlap (starting a
    sync) queue behind each other. SQLite ignores FOR UPDATE; there one writer at a time suffices."""
    session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())

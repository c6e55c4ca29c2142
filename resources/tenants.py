"""The tenant directory and credential vault (app database) as a Dagster resource."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource

from warehouse.app_db import session_factory
from warehouse.billing import blocked_tenants
from warehouse.tenants import TenantInfo, active_tenants, get_tenant, load_credentials
from warehouse.vault import CredentialVault


class TenantDirectory(ConfigurableResource):
    app_database_url: str
    # Where the Fernet keys are: never the keys themselves, which would show in the Dagster UI.
    keys_env: str = "STOCK_TRACKER_ENCRYPTION_KEYS"
    keys_file: str = ""

    def _session(self):  # type: ignore[no-untyped-def]
        return session_factory(self.app_database_url)()

    def active(self) -> list[TenantInfo]:
        with self._session() as session:
            return active_tenants(session)

    def sync_blocked(self) -> set[str]:
        """Tenants whose plan stops syncs now (canceled, unpaid, paused, grace over): data kept."""
        with self._session() as session:
            return blocked_tenants(session)

    def tenant(self, tenant_id: str) -> TenantInfo | None:
        return next((t for t in self.active() if t.id == tenant_id), None)

    def exists(self, tenant_id: str) -> bool:
        with self._session() as session:
            return get_tenant(session, tenant_id) is not None

    def credentials(self, tenant_id: str) -> dict[str, dict[str, str]]:
        raw = os.environ.get(self.keys_env) or (Path(self.keys_file).read_text() if self.keys_file else "")
        vault = CredentialVault([k.strip() for k in raw.split(",") if k.strip()])
        with self._session() as session:
            return load_credentials(session, vault, tenant_id)

"""Row-level security on the PostgreSQL stock model, the second wall of tenant isolation (DESIGN §7).

On PostgreSQL all tenants share the schema `mart`, every row keyed by `tenant_id`. As on the app
tables (migration 0002, warehouse/tenant_scope.py), the API reads it as the role
`stock_tracker_tenant` with `stock_tracker.tenant_id` set for the transaction, and that role sees
only that tenant's rows — none without the setting — and can change nothing. The owner of the
tables (Dagster's syncs, which build the model) is not subject to the policies. DuckDB has a file
per tenant: there the file is the wall.

The mart has no migrations (its tables are created by `Mart.ensure_schema` on every sync), so this
runs there too, and changes the catalog only when something is missing: `ALTER TABLE` takes an
exclusive lock that would stall every other tenant's sync and the API's reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from warehouse.tenant_scope import SETTING, TENANT_ROLE

MART_TABLES = (
    "stock_snapshot",
    "products",
    "orders_window",
    "stock_metrics",
    "warehouse_clusters",
    "ozon_cluster_stock",
    "supply_guard",
)
# Taken first in the transaction that creates and secures the mart: concurrent syncs of
# different tenants must not race through the catalog changes (any constant will do).
LOCK_MART_SCHEMA = "select pg_advisory_xact_lock(x'5707C8'::int)"

SECURE_MART = f"""
    DO $$
    DECLARE t text;
    BEGIN
        -- Roles belong to the cluster: another database may have created it (migration 0002).
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{TENANT_ROLE}') THEN
                CREATE ROLE {TENANT_ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
        -- A superuser may SET ROLE to any role; anyone else needs to be a member.
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
           AND NOT pg_has_role(current_user, '{TENANT_ROLE}', 'MEMBER') THEN
            EXECUTE format('GRANT {TENANT_ROLE} TO %I', current_user);
        END IF;
        IF NOT has_schema_privilege('{TENANT_ROLE}', 'mart', 'USAGE') THEN
            GRANT USAGE ON SCHEMA mart TO {TENANT_ROLE};
        END IF;
        FOREACH t IN ARRAY ARRAY{list(MART_TABLES)} LOOP
            IF NOT has_table_privilege('{TENANT_ROLE}', 'mart.' || t, 'SELECT') THEN
                EXECUTE format('GRANT SELECT ON mart.%I TO {TENANT_ROLE}', t);
            END IF;
            IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = ('mart.' || t)::regclass) THEN
                EXECUTE format('ALTER TABLE mart.%I ENABLE ROW LEVEL SECURITY', t);
            END IF;
            IF NOT EXISTS (SELECT FROM pg_policies WHERE schemaname = 'mart' AND tablename = t
                           AND policyname = 'tenant_isolation') THEN
                EXECUTE format(
                    'CREATE POLICY tenant_isolation ON mart.%I FOR SELECT TO {TENANT_ROLE} '
                    'USING (tenant_id = current_setting(''{SETTING}'', true))', t);
            END IF;
        END LOOP;
    END $$
"""


def scope_to_tenant(connection: Any, tenant_id: str) -> bool:
    """Make the rest of `connection`'s transaction (a SQLAlchemy connection) see only `tenant_id`'s
    mart rows. False, and nothing changed, when the server has no such role yet: then no mart was
    ever built there, and the caller has nothing to read."""
    found = connection.execute(
        text("select count(*) from pg_roles where rolname = :role"), {"role": TENANT_ROLE}
    )
    if not found.scalar():
        return False
    # SET LOCAL and set_config(..., true) end with the transaction: a pooled connection never
    # carries one tenant's scope into another request.
    connection.exec_driver_sql(f"SET LOCAL ROLE {TENANT_ROLE}")
    connection.execute(
        text("select set_config(:name, :tenant, true)"), {"name": SETTING, "tenant": tenant_id}
    )
    return True

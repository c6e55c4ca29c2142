"""Everything that owns SQL: the app schema (models, migrations, tenants, credentials, sync runs)."""

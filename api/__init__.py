"""The REST API (FastAPI): `api.main.create_app`; Swagger UI at /docs."""

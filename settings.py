"""The one settings object shared by the CLI, Dagster and the API (DESIGN §3).

Read from the environment (prefix `STOCK_TRACKER_`) and an optional `.env`. Later parts add
their own fields here rather than reading the environment themselves.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCK_TRACKER_", env_file=".env", extra="ignore")

    # Everything the embedded default keeps (databases, Dagster storage, generated secrets, output).
    home: Path = Path(".stock-tracker")
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 18555


@lru_cache
def get_settings() -> Settings:
    return Settings()

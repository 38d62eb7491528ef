"""Service settings, read from ``MEDREWARD_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be configured with; defaults give the embedded mode."""

    model_config = SettingsConfigDict(env_prefix="MEDREWARD_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    store_url: str = "sqlite:///medreward.db"
    """Run-state store: ``sqlite:///path.db`` (default, under the working directory),
    ``redis://host:port/db`` or ``memory://``."""
    log_level: str = "info"


@lru_cache
def get_settings() -> Settings:
    return Settings()

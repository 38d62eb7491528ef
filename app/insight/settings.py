"""Run-insight settings, read from ``MEDREWARD_*`` environment variables like the service's own."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class InsightSettings(BaseSettings):
    """How much run insight keeps and when it warns; every field is ``MEDREWARD_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MEDREWARD_", extra="ignore")

    insight: bool = Field(default=True, description="Record per-step run statistics (dead/phantom groups, ...).")
    insight_steps: int = Field(
        default=500, ge=1, le=100_000, description="Steps of statistics kept per run (the oldest are dropped)."
    )
    dead_group_warn: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Warn when the dead-group rate stays above this level..."
    )
    dead_group_warn_steps: int = Field(default=5, ge=1, description="...in each of this many consecutive steps.")
    insight_flush_s: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description="Write the statistics gathered in memory this often (0: with every scoring call).",
    )
    insight_group_ttl_s: float = Field(
        default=900.0,
        gt=0,
        description="Per-sample traffic: a group still missing samples this long after its last one is judged "
        "with the samples it has.",
    )


@lru_cache
def get_insight_settings() -> InsightSettings:
    return InsightSettings()

"""Service settings, read from ``MEDREWARD_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be configured with; defaults give the embedded mode.

    Every field is read from ``MEDREWARD_<FIELD>`` (e.g. ``MEDREWARD_STORE_URL``).
    """

    model_config = SettingsConfigDict(env_prefix="MEDREWARD_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface to bind (forced to 127.0.0.1 with no API keys).")
    port: int = Field(default=8000, description="TCP port.")
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes.")
    store_url: str = Field(
        default="sqlite:///medreward.db",
        description="Run-state store: sqlite:///path.db (default, under the working directory), "
        "redis://host:port/db or memory://.",
    )
    log_level: str = Field(default="info", description="Log level of the JSON logs.")
    api_keys: str = Field(default="", description="API keys mapped to tenants: 'key1:tenant1,key2:tenant2'.")
    api_keys_file: Path | None = Field(
        default=None, description="File with one 'key:tenant' per line (# comments allowed); adds to api_keys."
    )
    allow_open: bool = Field(
        default=False,
        description="Allow a non-loopback host with no API keys (only behind your own auth proxy).",
    )
    profiles_file: Path | None = Field(default=None, description="YAML file of profiles loaded at start.")
    load_models: bool = Field(default=True, description="Load the embedding model at start (semantic reward).")
    max_items: int = Field(default=1024, ge=1, description="Items per request; more gives 413.")
    max_completion_chars: int = Field(default=32_768, ge=1, description="Characters per completion; more gives 413.")
    max_boxes: int = Field(default=100, ge=1, description="Reference boxes or polygons per item; more gives 413.")
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1,
        description="Request body bytes; more gives 413 (NeMo Gym rollouts carry base64 images).",
    )
    abstain_value: float = Field(
        default=0.0,
        description="Reward sent to trainers whose protocol has no null (OpenRLHF, slime, NeMo Gym) when an "
        "item's total is null (a required component abstained); the response also flags the abstention.",
    )
    max_query_chars: int = Field(
        default=4_000_000,
        ge=1,
        description="Characters per OpenRLHF query (prompt + response with every image token expanded); "
        "more gives 413.",
    )
    threadpool_size: int = Field(
        default=64, ge=1, description="Threads that run the CPU-bound scoring off the event loop."
    )
    allowed_judge_urls: str = Field(
        default="",
        description="Comma-separated judge base URLs a request may name in the semantic reward's judge_url; "
        "$MEDREWARD_JUDGE_URL is always allowed, any other URL gives 422 (no request-chosen outbound calls).",
    )
    group_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="Per-sample traffic (group_size): a group no sample arrived for in this many seconds is "
        "reported with the samples it has.",
    )
    group_step_lag: int = Field(
        default=2,
        ge=1,
        description="Per-sample traffic: a group is reported with the samples it has once a sample of the same "
        "run arrives for a step this many steps later.",
    )
    graceful_timeout_s: int = Field(default=30, ge=0, description="Seconds in-flight requests get at shutdown.")


def judge_urls(settings: Settings) -> frozenset[str]:
    """Judge URLs requests may use: the configured default plus the allow-list."""
    urls = [u for u in settings.allowed_judge_urls.split(",") if u.strip()]
    default = os.environ.get("MEDREWARD_JUDGE_URL", "")
    return frozenset(u.strip().rstrip("/") for u in [*urls, default] if u.strip())


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""The FastAPI application: routers, error handlers, middleware and the lifespan that opens the store."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from app.api.errors import install as install_error_handlers
from app.api.routes import health, nemo_gym, openrlhf, profiles, rewards, runs, score, slime
from app.auth import KeyRing, parse_keys
from app.fastpath import FastPathMiddleware
from app.grouping import GroupBuffer
from app.insight import recorder as insight_recorder
from app.insight import routes as insight
from app.middleware import BodyLimitMiddleware, JsonBodyMiddleware, RequestContextMiddleware
from app.models import load_models
from app.profile_checks import check_file_profiles
from app.profiles import ProfileBook, load_file
from app.settings import Settings, get_settings, judge_urls
from schedulers.base import GroupPolicy
from schedulers.stores import open_store
from scorers import freeze_heap

log = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the store, load profiles and models; close the store after in-flight requests finish."""
    settings: Settings = app.state.settings
    # Scoring runs in this pool (sync routes), so per-sample bursts queue here, not on the loop.
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
    keys = parse_keys(settings.api_keys, settings.api_keys_file)
    app.state.keyring = KeyRing.from_keys(keys)
    if not keys:
        log.warning("no API keys configured: the service is OPEN (every caller is tenant 'default')")
    else:
        log.info("API keys loaded", extra={"tenants": sorted(set(keys.values()))})
    app.state.store = await anyio.to_thread.run_sync(open_store, settings.store_url)
    file_profiles = load_file(settings.profiles_file) if settings.profiles_file else {}
    check_file_profiles(file_profiles, judge_urls(settings))
    app.state.profiles = ProfileBook(app.state.store, file_profiles, judge_urls(settings))
    if settings.load_models:
        try:
            await anyio.to_thread.run_sync(load_models)
        except Exception as exc:  # /readyz reports it; the other rewards still serve
            log.error("embedding model failed to load: %s", exc)
    # Everything loaded so far lives as long as the process: keep full collections off it.
    frozen = freeze_heap()
    log.info("medreward ready", extra={"store": settings.store_url.split("://", 1)[0], "frozen_objects": frozen})
    app.state.group_buffer.start(app.state.store)
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(_stop_group_buffer, app)
        await anyio.to_thread.run_sync(insight_recorder.close, app.state.store)
        app.state.store.close()
        log.info("medreward stopped")


def _stop_group_buffer(app: FastAPI) -> None:
    """Stop the sweep; open groups of the memory store are reported as they are, not lost."""
    try:
        app.state.group_buffer.stop(app.state.store)
    except Exception as exc:  # shutdown goes on
        log.warning("open per-sample groups not closed at shutdown: %s", exc)


# FastAPI ≥ 0.160 bridges every request to OpenTelemetry, looking up the global providers each
# time (profiled: ~8% of a one-item request). The service exports Prometheus metrics instead.
_NO_OTEL: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; tests pass their own settings."""
    settings = settings or get_settings()
    app = FastAPI(
        title="medreward",
        version="0.1.0",
        description="Medically informed rewards for GRPO fine-tuning of medical vision-language models.",
        lifespan=lifespan,
        **_NO_OTEL,
    )
    app.state.settings = settings
    app.state.group_buffer = GroupBuffer(
        GroupPolicy(timeout_s=settings.group_timeout_s, step_lag=settings.group_step_lag)
    )
    install_error_handlers(app)
    for module in (health, rewards, score, profiles, runs, openrlhf, slime, nemo_gym, insight):
        app.include_router(module.router)
    # Innermost first. The JSON checks apply to the full stack; the fast path makes them itself
    # on the bodies it does not decode into its shallow types (`app.fastpath`).
    app.add_middleware(JsonBodyMiddleware, max_depth=settings.max_json_depth)
    # The fast path sits inside the next two: request ids, logs, metrics and the body limit apply to it too.
    app.add_middleware(FastPathMiddleware)
    # Added last, the request id wraps the body limit: 413s are logged too.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, drain_bytes=settings.max_drain_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app


app = create_app()

"""One error shape for every failure: ``{"error": {"code", "message", "field"}}``.

Bad input is always a 4xx that names what to fix; a 500 means a bug in the service.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import metrics
from schedulers.base import RequestConflictError, RunExistsError, RunNotFoundError, SchedulerConfigError
from scorers import UnknownRewardError

log = logging.getLogger(__name__)

# Lists of valid names are only spelled out while they stay readable.
_MAX_LISTED = 20


class ApiError(Exception):
    """A client error with the status, a stable machine-readable code and the offending field."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def not_found(kind: str, name: str, valid: Sequence[str] | None = None, field: str | None = None) -> ApiError:
    """A 404 for an unknown reward/profile/run, listing the valid names when there are few."""
    msg = f"unknown {kind} {name!r}"
    if valid is not None and 0 < len(valid) <= _MAX_LISTED:
        msg += f"; valid: {', '.join(sorted(valid))}"
    return ApiError(404, f"{kind}_not_found", msg, field)


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "items", 3, "completion")`` → ``"items[3].completion"``."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_error(exc: ValidationError | RequestValidationError, prefix: str = "") -> ApiError:
    """The first pydantic error as a 422 naming the field (the rest are summarised)."""
    errors: Sequence[Any] = exc.errors()
    if not errors:
        return ApiError(422, "invalid", "invalid request", prefix or None)
    first = errors[0]
    path = field_path(tuple(first.get("loc", ())))
    field = ".".join(p for p in (prefix, path) if p) or None
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ApiError(422, "invalid_field", f"{field or 'body'}: {first.get('msg', 'invalid')}{more}", field)


async def _tenant_runs(request: Request) -> list[str] | None:
    """The caller's run ids, to name in a 404 (None when they cannot be listed)."""
    tenant = getattr(request.state, "tenant", None)
    if tenant is None:
        return None
    try:
        runs = await anyio.to_thread.run_sync(request.app.state.store.list_runs, tenant)
    except Exception:  # the 404 goes out either way
        return None
    return [str(r["run_id"]) for r in runs]


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def _response(err: ApiError) -> JSONResponse:
    metrics.ERRORS.labels(code=err.code).inc()
    return JSONResponse(error_body(err.code, err.message, err.field), status_code=err.status, headers=err.headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the one error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _response(validation_error(exc))

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
        return _response(validation_error(exc))

    @app.exception_handler(UnknownRewardError)
    async def _unknown_reward(_: Request, exc: UnknownRewardError) -> JSONResponse:
        return _response(not_found("reward", exc.name, exc.valid))

    @app.exception_handler(RunNotFoundError)
    async def _unknown_run(request: Request, exc: RunNotFoundError) -> JSONResponse:
        name = str(exc.args[0]) if exc.args else ""
        return _response(not_found("run", name, await _tenant_runs(request), field="run_id"))

    @app.exception_handler(RunExistsError)
    async def _run_exists(_: Request, exc: RunExistsError) -> JSONResponse:
        return _response(ApiError(409, "run_exists", str(exc) or "run exists", "run_id"))

    @app.exception_handler(RequestConflictError)
    async def _request_reused(_: Request, exc: RequestConflictError) -> JSONResponse:
        return _response(ApiError(409, "request_id_reused", str(exc), "request_id"))

    @app.exception_handler(SchedulerConfigError)
    async def _scheduler_config(_: Request, exc: SchedulerConfigError) -> JSONResponse:
        return _response(ApiError(422, "invalid_field", str(exc), exc.field))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        err = ApiError(exc.status_code, code, str(exc.detail))
        resp = _response(err)
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    async def _store_down(_: Request, exc: Exception) -> JSONResponse:
        # A 503 with Retry-After: trainers retry it (OpenRLHF 5×, slime 10×) instead of failing the run.
        log.error("run store unavailable: %s: %s", type(exc).__name__, exc)
        err = ApiError(503, "store_unavailable", "the run store is unavailable; retry", headers={"Retry-After": "1"})
        return _response(err)

    for exc_type in (sqlite3.OperationalError, RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(exc_type, _store_down)

    # Anything else is a bug: `app.middleware.RequestContextMiddleware` answers it with a 500 that
    # carries the request id (an `Exception` handler here would run outside the request's context).

"""Pure ASGI middleware: request ids, access log, metrics, the last-resort 500; body limits, JSON checks.

Pure ASGI (not ``BaseHTTPMiddleware``) so that per-sample traffic pays no extra task per request.
"""

from __future__ import annotations

import json
import logging
import re
import time

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import metrics
from app.api.errors import error_body
from app.ids import new_id
from app.json_body import BodyRejected, clean_json_body
from app.logging import log_quickly, request_id_var

access_log = logging.getLogger("app.access")
log = logging.getLogger("app.errors")

# A client-supplied X-Request-ID is echoed only when it is short and plain, so logs stay clean.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# An over-limit body is read and dropped for at most this long before the 413 goes out anyway.
DRAIN_TIMEOUT_S = 10.0
INTERNAL_MESSAGE = "internal error (a bug in the service; see the server log under this X-Request-ID)"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _may_carry_body(scope: Scope) -> bool:
    """An HTTP request whose method may carry a body the service reads."""
    return scope["type"] == "http" and scope.get("method") not in ("GET", "HEAD", "OPTIONS", "DELETE")


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    """One complete JSON error response in the service's error shape."""
    metrics.ERRORS.labels(code=code).inc()
    payload = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    """Tag each request with an id (``X-Request-ID``), log it as JSON and time it per route template.

    It also answers a request whose handler raised: a 500 in the error shape, with the request
    id in its header and in the one log line that carries the traceback. The exception stops
    here, so the server neither logs it a second time nor drops the keep-alive connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _REQUEST_ID.match(given) else new_id()
        token = request_id_var.set(rid)
        status = 500
        started = False
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.exception("unhandled error: %s", type(exc).__name__)
            status = 500
            if not started:
                await send_error(send_with_id, 500, "internal", INTERNAL_MESSAGE)
            # else part of a response is out: the server closes the connection, nothing else to send.
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            metrics.requests_child(label, method, str(status)).inc()
            metrics.latency_child(label, method).observe(elapsed)
            # The path only: query strings may carry an adapter's api_key.
            log_quickly(
                access_log,
                logging.INFO,
                "%s %s %d",
                method,
                scope.get("path", ""),
                status,
                extra={"status": status, "route": label, "ms": round(elapsed * 1000, 2)},
            )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """The request body, read whole and checked before any route sees it.

    Over ``max_bytes`` (by Content-Length, or by counting what arrives): 413. The rest of the
    body is first read and dropped, up to ``drain_bytes`` more and `DRAIN_TIMEOUT_S`, so that
    the client, still sending, gets the 413 and its message instead of a reset connection;
    a client that sent ``Expect: 100-continue`` is answered at once, before it sends anything.
    The JSON inside is checked further in, by `JsonBodyMiddleware`.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, drain_bytes: int = 64 << 20) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_bytes = drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _may_carry_body(scope):
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        try:
            declared = int(_header(scope, b"content-length") or "")
        except ValueError:
            pass
        if declared is not None and declared > self.max_bytes:
            expects = (_header(scope, b"expect") or "").lower() == "100-continue"
            if not expects and declared <= self.max_bytes + self.drain_bytes:
                await self._drain(receive, -self.max_bytes)
            await self._too_large(send)
            return
        # Read the (bounded) body here and replay it, so an undeclared or lying length is caught too.
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            more = bool(message.get("more_body", False))
            if total > self.max_bytes:
                if more:
                    await self._drain(receive, total - self.max_bytes)
                await self._too_large(send)
                return
            chunks.append(body)
        await self.app(scope, replay_body(b"".join(chunks), receive), send)

    async def _drain(self, receive: Receive, over: int) -> None:
        """Read and drop the rest of the body (bounded in bytes and time)."""
        with anyio.move_on_after(DRAIN_TIMEOUT_S):
            while over <= self.drain_bytes:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return
                over += len(message.get("body", b""))

    async def _too_large(self, send: Send) -> None:
        message = f"request body over {self.max_bytes} bytes (MEDREWARD_MAX_BODY_BYTES)"
        await send_error(send, 413, "body_too_large", message)


class JsonBodyMiddleware:
    """A JSON body nested deeper than ``max_depth`` gets 422; lone UTF-16 surrogates are replaced.

    The checks of `app.json_body`, in this one place for every route and adapter of the full
    stack. It sits inside `app.fastpath.FastPathMiddleware`, which makes the same checks itself
    on the bodies it validates, except for those msgspec decoded into its shallow request types:
    those hold no lone surrogate and cannot nest deeper than the types do.
    """

    def __init__(self, app: ASGIApp, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _may_carry_body(scope) or "json" not in (_header(scope, b"content-type") or "json").lower():
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)  # one message: the body limit's replay
        if body is None:  # the client went away
            return
        try:
            data = clean_json_body(body, self.max_depth)
        except BodyRejected as exc:
            await send_error(send, exc.status, exc.code, exc.message)
            return
        await self.app(scope, replay_body(data, receive), send)


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app a body already read, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

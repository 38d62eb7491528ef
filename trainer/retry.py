"""When to try a request again, and how to read the service's answer: shared by both clients, free of I/O."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import msgspec

from trainer.results import MedRewardError

__all__ = [
    "ACCEPT_MSGPACK",
    "RETRY_ERRORS",
    "RETRY_STATUS",
    "Call",
    "Done",
    "Retry",
    "RetryPolicy",
    "error_from",
    "read_document",
    "request_content",
    "request_headers",
    "retry_after",
]

# MessagePack preferred, JSON accepted: the service writes its scoring responses in MessagePack
# when asked, everything else (errors included) in JSON.
ACCEPT_MSGPACK = "application/msgpack, application/json;q=0.9"
_MSGPACK_TYPES = ("application/msgpack", "application/vnd.msgpack", "application/x-msgpack")

RETRY_STATUS = frozenset({429, 502, 503, 504})
# Transport failures worth another try: nothing reached the service, or its answer was cut off.
# A retry is safe because the request_id makes the service return the stored result.
RETRY_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.TimeoutException,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP request and how to read its JSON answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    body: dict[str, Any] | None = None
    request_id: str | None = None
    content: bytes | None = None
    """``body`` already encoded as JSON (batch calls: `trainer.batching.encode_body`), sent as it is."""


@dataclass(frozen=True)
class Done(Generic[T]):
    value: T


class Retry(Generic[T]):
    """The retry decision for one call, free of I/O: both clients feed it what each attempt gave."""

    def __init__(self, call: Call[T], policy: RetryPolicy) -> None:
        self.call = call
        self.policy = policy
        self.started = time.monotonic()
        self.attempt = 0

    def answered(self, response: httpx.Response) -> Done[T] | float:
        """The parsed result, or seconds to wait before the next attempt; raises when giving up."""
        if response.status_code not in RETRY_STATUS:
            return Done(_outcome(self.call, response))
        return self._again(error_from(response), response)

    def failed(self, exc: Exception) -> float:
        """Seconds to wait after a transport failure; raises when giving up."""
        err = _transport_error(exc, self.call)
        err.__cause__ = exc
        return self._again(err, None)

    def _again(self, failure: MedRewardError, response: httpx.Response | None) -> float:
        wait = self.policy.delay(self.attempt, response)
        if not self.policy.should_retry(self.attempt, self.started, wait):
            raise failure
        self.attempt += 1
        return wait


@dataclass
class RetryPolicy:
    """When and how long to wait before trying a request again."""

    max_retries: int = 5
    backoff: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    deadline: float | None = None
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait after failed ``attempt`` (0-based): Retry-After if given, else backoff with jitter."""
        if response is not None:
            after = retry_after(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff * 2**attempt)
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)  # "equal jitter": never less than half

    def should_retry(self, attempt: int, started: float, wait: float) -> bool:
        if attempt >= self.max_retries:
            return False
        return self.deadline is None or time.monotonic() - started + wait < self.deadline


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date.

    >>> retry_after("2"), retry_after(None), retry_after("soon")
    (2.0, None, None)
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from(response: httpx.Response) -> MedRewardError:
    """The service's ``{"error": {"code", "message", "field"}}`` body as an exception."""
    try:
        doc = response.json()
    except ValueError:
        doc = None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        return MedRewardError(
            response.status_code,
            str(err.get("code") or f"http_{response.status_code}"),
            str(err.get("message") or response.reason_phrase),
            err.get("field"),
            request_id=response.request.headers.get("x-request-id") if response.request else None,
        )
    text = response.text.strip()[:300] or response.reason_phrase
    return MedRewardError(response.status_code, f"http_{response.status_code}", text, None)


def _outcome(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise error_from(response)
    if response.status_code == 204 or not response.content:
        return call.parse(None)
    return call.parse(read_document(response))


def read_document(response: httpx.Response) -> Any:
    """The answer's body by its content type: MessagePack, else JSON."""
    content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in _MSGPACK_TYPES:
        return msgspec.msgpack.decode(response.content)
    return response.json()


def _transport_error(exc: Exception, call: Call[Any]) -> MedRewardError:
    code = "timeout" if isinstance(exc, httpx.TimeoutException) else "unreachable"
    return MedRewardError(None, code, f"{call.method} {call.path}: {type(exc).__name__}: {exc}", None, call.request_id)


def request_headers(call: Call[Any]) -> dict[str, str] | None:
    headers = {"X-Request-ID": call.request_id} if call.request_id else {}
    if call.content is not None:
        headers["Content-Type"] = "application/json"
    return headers or None


def request_content(call: Call[Any]) -> dict[str, Any]:
    """The body arguments of ``httpx.Client.request``: the encoded content, else the body as JSON."""
    return {"content": call.content} if call.content is not None else {"json": call.body}

"""HTTP clients for the medreward service: ``MedRewardClient`` (sync) and ``AsyncMedRewardClient``.

One method per route. Both clients share everything but the I/O: each call is described once
(`_Call`: method, path, body, how to parse the answer) and the retry policy, error parsing and
batch chunking live in module functions that both use.

- Retries: 429, 502, 503 and 504, and transport failures (refused or reset connections,
  connect/read timeouts), with exponential backoff and jitter, honouring ``Retry-After``.
  Never on another 4xx (the request itself is wrong) nor on 500 (a bug in the service, which a
  retry would only repeat).
- Idempotency: every scoring call carries a ``request_id`` (generated when absent) that is
  reused by each retry, so a report the service already counted is not counted twice.
- Chunking: a batch larger than ``max_batch`` is sent as several requests, whole prompt groups
  kept together, chunk ``k`` with request id ``<request_id>.<k>``; results come back in the
  caller's order.

>>> MedRewardClient("http://127.0.0.1:8000", max_batch=256).max_batch
256
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import hashlib
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from trainer.results import MedRewardError, RewardResult, ScoreResult, merge_rewards, merge_scores

__all__ = ["AsyncMedRewardClient", "MedRewardClient", "MedRewardError", "RewardResult", "ScoreResult"]

DEFAULT_URL = "http://127.0.0.1:8000"
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
_REQUEST_ID_MAX = 128  # the service's request_id pattern allows 1..128 characters

T = TypeVar("T")
R = TypeVar("R")
Item = Mapping[str, Any] | Any  # a dict, or a pydantic model / dataclass with the Item fields


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One HTTP request and how to read its JSON answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    body: dict[str, Any] | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class _Done(Generic[T]):
    value: T


class _Retry(Generic[T]):
    """The retry decision for one call, free of I/O: both clients feed it what each attempt gave."""

    def __init__(self, call: _Call[T], policy: RetryPolicy) -> None:
        self.call = call
        self.policy = policy
        self.started = time.monotonic()
        self.attempt = 0

    def answered(self, response: httpx.Response) -> _Done[T] | float:
        """The parsed result, or seconds to wait before the next attempt; raises when giving up."""
        if response.status_code not in RETRY_STATUS:
            return _Done(_outcome(self.call, response))
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


@dataclass(frozen=True)
class _Batch(Generic[R]):
    """A batch call split into chunks, and how to put the chunk results back together."""

    calls: list[_Call[R]]
    positions: list[list[int]]  # for each chunk, the caller's index of each of its items
    merge: Callable[[list[R], list[list[int]], int], R]
    size: int

    def result(self, parts: list[R]) -> R:
        return self.merge(parts, self.positions, self.size)


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


def item_json(item: Item) -> dict[str, Any]:
    """An item as the JSON object the service reads (dicts as given; models without unset fields).

    >>> item_json({"completion": "x", "reference": "yes"})
    {'completion': 'x', 'reference': 'yes'}
    """
    if isinstance(item, Mapping):
        return dict(item)
    dump = getattr(item, "model_dump", None)
    if callable(dump):  # pydantic (scorers.Item, app.schemas)
        out = dump(mode="json", exclude_none=True)
        assert isinstance(out, dict)
        return out
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return {k: v for k, v in dataclasses.asdict(item).items() if v is not None}
    raise TypeError(f"an item must be a dict or a pydantic model, not {type(item).__name__}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def chunk_request_id(request_id: str, k: int) -> str:
    """``<request_id>.<k>``, hashed down when the service's 128-character limit would be exceeded.

    >>> chunk_request_id("step-7", 2)
    'step-7.2'
    """
    suffix = f".{k}"
    if len(request_id) + len(suffix) > _REQUEST_ID_MAX:
        request_id = hashlib.sha1(request_id.encode()).hexdigest()
    return request_id + suffix


def plan_chunks(items: Sequence[dict[str, Any]], max_batch: int) -> list[list[int]]:
    """Indices of each chunk: at most ``max_batch`` items, a prompt group never split.

    Items of one ``group`` form one GRPO group for the schedulers, so splitting a group across two
    requests would report two half groups. A group larger than ``max_batch`` travels alone.

    >>> plan_chunks([{"group": g} for g in "aabbbc"], 3)
    [[0, 1], [2, 3, 4], [5]]
    """
    groups: dict[Any, list[int]] = {}
    for i, item in enumerate(items):
        key = item.get("group")
        groups.setdefault(("g", str(key)) if key is not None else ("i", i), []).append(i)
    chunks: list[list[int]] = []
    current: list[int] = []
    for members in groups.values():
        if current and len(current) + len(members) > max_batch:
            chunks.append(current)
            current = []
        current = current + members
    if current:
        chunks.append(current)
    return [sorted(c) for c in chunks]


class _Api:
    """Configuration and every route as a `_Call` (or a chunked `_Batch`); the clients only execute them."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_batch: int,
        deadline: float | None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.base_url = (base_url or os.environ.get("MEDREWARD_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("MEDREWARD_API_KEY") or None
        self.timeout = timeout
        self.max_batch = max_batch
        self.policy = RetryPolicy(max_retries=max_retries, backoff=backoff, deadline=deadline)

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "medreward-client/0.1"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _batch(
        self,
        path: str,
        body: dict[str, Any],
        items: Iterable[Item],
        request_id: str | None,
        parse: Callable[[Any], R],
        merge: Callable[[list[R], list[list[int]], int], R],
    ) -> _Batch[R]:
        rows = [item_json(x) for x in items]
        rid = request_id or new_request_id()
        if len(rows) <= self.max_batch:
            chunks, ids = [list(range(len(rows)))], [rid]
        else:
            chunks = plan_chunks(rows, self.max_batch)
            ids = [chunk_request_id(rid, k) for k in range(len(chunks))]
        calls = [
            _Call("POST", path, parse, {**body, "items": [rows[i] for i in idx], "request_id": cid}, cid)
            for idx, cid in zip(chunks, ids, strict=True)
        ]
        return _Batch(calls, chunks, merge, len(rows))

    def _score(
        self,
        items: Iterable[Item],
        profile: str | Mapping[str, Any],
        run_id: str | None,
        step: int | None,
        request_id: str | None,
        group_size: int | None,
    ) -> _Batch[ScoreResult]:
        body = _drop_none({"profile": profile, "run_id": run_id, "step": step, "group_size": group_size})
        return self._batch("/v1/score", body, items, request_id, ScoreResult.from_json, merge_scores)

    def _reward(
        self,
        name: str,
        items: Iterable[Item],
        params: Mapping[str, Any] | None,
        run_id: str | None,
        step: int | None,
        request_id: str | None,
        group_size: int | None,
    ) -> _Batch[RewardResult]:
        body = _drop_none({"params": dict(params or {}), "run_id": run_id, "step": step, "group_size": group_size})
        return self._batch(f"/v1/rewards/{name}", body, items, request_id, RewardResult.from_json, merge_rewards)

    def _list_rewards(self) -> _Call[list[dict[str, Any]]]:
        return _Call("GET", "/v1/rewards", _key("rewards"))

    def _get_reward(self, name: str) -> _Call[dict[str, Any]]:
        return _Call("GET", f"/v1/rewards/{name}", _doc)

    def _put_profile(self, name: str, profile: Mapping[str, Any]) -> _Call[dict[str, Any]]:
        return _Call("PUT", f"/v1/profiles/{name}", _doc, dict(profile))

    def _get_profile(self, name: str) -> _Call[dict[str, Any]]:
        return _Call("GET", f"/v1/profiles/{name}", _doc)

    def _list_profiles(self) -> _Call[list[dict[str, Any]]]:
        return _Call("GET", "/v1/profiles", _key("profiles"))

    def _delete_profile(self, name: str) -> _Call[None]:
        return _Call("DELETE", f"/v1/profiles/{name}", _nothing)

    def _create_run(
        self, run_id: str | None, scheduler: str, config: Mapping[str, Any] | None
    ) -> _Call[dict[str, Any]]:
        body = _drop_none({"run_id": run_id, "scheduler": scheduler, "config": dict(config or {})})
        return _Call("POST", "/v1/runs", _doc, body)

    def _get_run(self, run_id: str) -> _Call[dict[str, Any]]:
        return _Call("GET", f"/v1/runs/{run_id}", _doc)

    def _list_runs(self) -> _Call[list[dict[str, Any]]]:
        return _Call("GET", "/v1/runs", _key("runs"))

    def _run_history(self, run_id: str) -> _Call[list[dict[str, Any]]]:
        return _Call("GET", f"/v1/runs/{run_id}/history", _key("history"))

    def _reset_run(self, run_id: str) -> _Call[dict[str, Any]]:
        return _Call("POST", f"/v1/runs/{run_id}/reset", _doc)

    def _delete_run(self, run_id: str) -> _Call[None]:
        return _Call("DELETE", f"/v1/runs/{run_id}", _nothing)

    def _health(self) -> _Call[dict[str, Any]]:
        return _Call("GET", "/healthz", _doc)

    def _ready(self) -> _Call[dict[str, Any]]:
        return _Call("GET", "/readyz", _doc)


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


def _doc(doc: Any) -> dict[str, Any]:
    return dict(doc)


def _key(name: str) -> Callable[[Any], list[dict[str, Any]]]:
    def parse(doc: Any) -> list[dict[str, Any]]:
        return list(doc[name])

    return parse


def _nothing(_: Any) -> None:
    return None


def _outcome(call: _Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise error_from(response)
    if response.status_code == 204 or not response.content:
        return call.parse(None)
    return call.parse(response.json())


def _transport_error(exc: Exception, call: _Call[Any]) -> MedRewardError:
    code = "timeout" if isinstance(exc, httpx.TimeoutException) else "unreachable"
    return MedRewardError(None, code, f"{call.method} {call.path}: {type(exc).__name__}: {exc}", None, call.request_id)


def _request_headers(call: _Call[Any]) -> dict[str, str] | None:
    return {"X-Request-ID": call.request_id} if call.request_id else None


class MedRewardClient(_Api):
    """Synchronous client; one pooled ``httpx.Client`` per object. Use as a context manager or ``close()``.

    Args:
        base_url: the service (default ``$MEDREWARD_URL`` or http://127.0.0.1:8000).
        api_key: sent as ``Authorization: Bearer`` (default ``$MEDREWARD_API_KEY``).
        timeout: seconds per attempt (connect, read, write).
        max_retries: retries after the first attempt (429/502/503/504 and transport errors only).
        backoff: first backoff in seconds, doubled per retry (with jitter; ``Retry-After`` wins).
        max_batch: items per request; larger batches are chunked by prompt group.
        deadline: seconds for a whole call, retries included (None: only the retry count bounds it).
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_batch: int = 512,
        deadline: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout, max_retries, backoff, max_batch, deadline)
        self._http = httpx.Client(
            base_url=self.base_url, headers=self._headers(), timeout=timeout, transport=transport
        )
        self._sleep: Callable[[float], None] = time.sleep

    def __enter__(self) -> MedRewardClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _do(self, call: _Call[T]) -> T:
        retry = _Retry(call, self.policy)
        while True:
            try:
                response = self._http.request(call.method, call.path, json=call.body, headers=_request_headers(call))
            except RETRY_ERRORS as exc:
                step: _Done[T] | float = retry.failed(exc)
            else:
                step = retry.answered(response)
            if isinstance(step, _Done):
                return step.value
            self._sleep(step)

    def score(
        self,
        items: Iterable[Item],
        profile: str | Mapping[str, Any],
        *,
        run_id: str | None = None,
        step: int | None = None,
        request_id: str | None = None,
        group_size: int | None = None,
    ) -> ScoreResult:
        """Composite score of a batch with a profile (a name or an inline profile)."""
        batch = self._score(items, profile, run_id, step, request_id, group_size)
        return batch.result([self._do(c) for c in batch.calls])

    def reward(
        self,
        name: str,
        items: Iterable[Item],
        params: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        step: int | None = None,
        request_id: str | None = None,
        group_size: int | None = None,
    ) -> RewardResult:
        """One reward over a batch."""
        batch = self._reward(name, items, params, run_id, step, request_id, group_size)
        return batch.result([self._do(c) for c in batch.calls])

    def list_rewards(self) -> list[dict[str, Any]]:
        """Every registered reward with its params schema and range."""
        return self._do(self._list_rewards())

    def get_reward(self, name: str) -> dict[str, Any]:
        return self._do(self._get_reward(name))

    def put_profile(self, name: str, profile: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace this tenant's profile."""
        return self._do(self._put_profile(name, profile))

    def get_profile(self, name: str) -> dict[str, Any]:
        return self._do(self._get_profile(name))

    def list_profiles(self) -> list[dict[str, Any]]:
        return self._do(self._list_profiles())

    def delete_profile(self, name: str) -> None:
        self._do(self._delete_profile(name))

    def create_run(
        self, run_id: str | None = None, scheduler: str = "medloc", config: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A new run (409 ``run_exists`` if the id is taken)."""
        return self._do(self._create_run(run_id, scheduler, config))

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self._do(self._get_run(run_id))

    def list_runs(self) -> list[dict[str, Any]]:
        return self._do(self._list_runs())

    def run_history(self, run_id: str) -> list[dict[str, Any]]:
        return self._do(self._run_history(run_id))

    def reset_run(self, run_id: str) -> dict[str, Any]:
        return self._do(self._reset_run(run_id))

    def delete_run(self, run_id: str) -> None:
        self._do(self._delete_run(run_id))

    def health(self) -> dict[str, Any]:
        return self._do(self._health())

    def ready(self) -> dict[str, Any]:
        """``/readyz``; not ready (503) raises `MedRewardError` once the retries are spent."""
        return self._do(self._ready())


class AsyncMedRewardClient(_Api):
    """Asynchronous twin of `MedRewardClient`: same arguments, same methods, awaited.

    The chunks of one batch go out one after another, as the sync client sends them, so a run's
    scheduler sees the groups in the caller's order whichever client is used. An
    ``httpx.AsyncClient`` belongs to the event loop it first ran on: use one client per loop.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_batch: int = 512,
        deadline: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout, max_retries, backoff, max_batch, deadline)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers(), timeout=timeout, transport=transport
        )
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def __aenter__(self) -> AsyncMedRewardClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _do(self, call: _Call[T]) -> T:
        retry = _Retry(call, self.policy)
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, json=call.body, headers=_request_headers(call)
                )
            except RETRY_ERRORS as exc:
                step: _Done[T] | float = retry.failed(exc)
            else:
                step = retry.answered(response)
            if isinstance(step, _Done):
                return step.value
            await self._sleep(step)

    async def score(
        self,
        items: Iterable[Item],
        profile: str | Mapping[str, Any],
        *,
        run_id: str | None = None,
        step: int | None = None,
        request_id: str | None = None,
        group_size: int | None = None,
    ) -> ScoreResult:
        """Composite score of a batch with a profile (a name or an inline profile)."""
        batch = self._score(items, profile, run_id, step, request_id, group_size)
        return batch.result([await self._do(c) for c in batch.calls])

    async def reward(
        self,
        name: str,
        items: Iterable[Item],
        params: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        step: int | None = None,
        request_id: str | None = None,
        group_size: int | None = None,
    ) -> RewardResult:
        """One reward over a batch."""
        batch = self._reward(name, items, params, run_id, step, request_id, group_size)
        return batch.result([await self._do(c) for c in batch.calls])

    async def list_rewards(self) -> list[dict[str, Any]]:
        return await self._do(self._list_rewards())

    async def get_reward(self, name: str) -> dict[str, Any]:
        return await self._do(self._get_reward(name))

    async def put_profile(self, name: str, profile: Mapping[str, Any]) -> dict[str, Any]:
        return await self._do(self._put_profile(name, profile))

    async def get_profile(self, name: str) -> dict[str, Any]:
        return await self._do(self._get_profile(name))

    async def list_profiles(self) -> list[dict[str, Any]]:
        return await self._do(self._list_profiles())

    async def delete_profile(self, name: str) -> None:
        await self._do(self._delete_profile(name))

    async def create_run(
        self, run_id: str | None = None, scheduler: str = "medloc", config: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self._do(self._create_run(run_id, scheduler, config))

    async def get_run(self, run_id: str) -> dict[str, Any]:
        return await self._do(self._get_run(run_id))

    async def list_runs(self) -> list[dict[str, Any]]:
        return await self._do(self._list_runs())

    async def run_history(self, run_id: str) -> list[dict[str, Any]]:
        return await self._do(self._run_history(run_id))

    async def reset_run(self, run_id: str) -> dict[str, Any]:
        return await self._do(self._reset_run(run_id))

    async def delete_run(self, run_id: str) -> None:
        await self._do(self._delete_run(run_id))

    async def health(self) -> dict[str, Any]:
        return await self._do(self._health())

    async def ready(self) -> dict[str, Any]:
        return await self._do(self._ready())

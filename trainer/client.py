"""HTTP clients for the medreward service: ``MedRewardClient`` (sync) and ``AsyncMedRewardClient``.

One method per route. Both clients share everything but the I/O: each route is described once
(`trainer.routes`: method, path, body, how to parse the answer), and the retry decision
(`trainer.retry`) and the chunking of batches (`trainer.batching`) are shared.

- Retries: 429, 502, 503 and 504, and transport failures (refused or reset connections,
  connect/read timeouts), with exponential backoff and jitter, honouring ``Retry-After``.
  Never on another 4xx (the request itself is wrong) nor on 500 (a bug in the service, which a
  retry would only repeat).
- Idempotency: every scoring call carries a ``request_id`` (generated when absent) that is
  reused by each retry, so a report the service already counted is not counted twice.
- Chunking: a batch larger than ``max_batch`` is sent as several requests, whole prompt groups
  kept together, chunk ``k`` with request id ``<request_id>.<k>``; results come back in the
  caller's order.
- Encoding: scoring responses are asked for in MessagePack (``msgpack=False``: JSON) and every
  answer is read by its content type.

>>> MedRewardClient("http://127.0.0.1:8000", max_batch=256).max_batch
256
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import httpx

from trainer.batching import Item
from trainer.results import MedRewardError, RewardResult, ScoreResult
from trainer.retry import RETRY_ERRORS, Call, Done, Retry, RetryPolicy, request_content, request_headers
from trainer.routes import Routes

__all__ = ["AsyncMedRewardClient", "MedRewardClient", "MedRewardError", "RetryPolicy", "RewardResult", "ScoreResult"]

T = TypeVar("T")


class MedRewardClient(Routes):
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
        msgpack: ask for scoring responses in MessagePack (the same values; False: JSON, e.g. to
            read them in a proxy's log). Either encoding is read, whichever the service sends.
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
        msgpack: bool = True,
    ) -> None:
        super().__init__(base_url, api_key, timeout, max_retries, backoff, max_batch, deadline, msgpack)
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

    def _do(self, call: Call[T]) -> T:
        retry = Retry(call, self.policy)
        while True:
            try:
                response = self._http.request(
                    call.method, call.path, headers=request_headers(call), **request_content(call)
                )
            except RETRY_ERRORS as exc:
                step: Done[T] | float = retry.failed(exc)
            else:
                step = retry.answered(response)
            if isinstance(step, Done):
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
        details: bool = True,
    ) -> ScoreResult:
        """Composite score of a batch with a profile (a name or an inline profile); ``details=False``
        asks for no per-item details (the result's are then empty dicts)."""
        batch = self._score(items, profile, run_id, step, request_id, group_size, details)
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
        details: bool = True,
    ) -> RewardResult:
        """One reward over a batch; ``details=False`` as for `score`."""
        batch = self._reward(name, items, params, run_id, step, request_id, group_size, details)
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

    def export_run_state(self, run_id: str) -> dict[str, Any]:
        """The run's full schedule state (config, τ, window with raw IoUs, raises), for a checkpoint."""
        return self._do(self._export_run_state(run_id))

    def restore_run_state(self, run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """Put a saved `export_run_state` document back (creating the run if absent); returns the run."""
        return self._do(self._restore_run_state(run_id, state))

    def reset_run(self, run_id: str) -> dict[str, Any]:
        return self._do(self._reset_run(run_id))

    def delete_run(self, run_id: str) -> None:
        self._do(self._delete_run(run_id))

    def health(self) -> dict[str, Any]:
        return self._do(self._health())

    def ready(self) -> dict[str, Any]:
        """``/readyz``; not ready (503) raises `MedRewardError` once the retries are spent."""
        return self._do(self._ready())


class AsyncMedRewardClient(Routes):
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
        msgpack: bool = True,
    ) -> None:
        super().__init__(base_url, api_key, timeout, max_retries, backoff, max_batch, deadline, msgpack)
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

    async def _do(self, call: Call[T]) -> T:
        retry = Retry(call, self.policy)
        while True:
            try:
                response = await self._http.request(
                    call.method, call.path, headers=request_headers(call), **request_content(call)
                )
            except RETRY_ERRORS as exc:
                step: Done[T] | float = retry.failed(exc)
            else:
                step = retry.answered(response)
            if isinstance(step, Done):
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
        details: bool = True,
    ) -> ScoreResult:
        """Composite score of a batch with a profile (a name or an inline profile); ``details=False``
        asks for no per-item details (the result's are then empty dicts)."""
        batch = self._score(items, profile, run_id, step, request_id, group_size, details)
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
        details: bool = True,
    ) -> RewardResult:
        """One reward over a batch; ``details=False`` as for `score`."""
        batch = self._reward(name, items, params, run_id, step, request_id, group_size, details)
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

    async def export_run_state(self, run_id: str) -> dict[str, Any]:
        return await self._do(self._export_run_state(run_id))

    async def restore_run_state(self, run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
        return await self._do(self._restore_run_state(run_id, state))

    async def reset_run(self, run_id: str) -> dict[str, Any]:
        return await self._do(self._reset_run(run_id))

    async def delete_run(self, run_id: str) -> None:
        await self._do(self._delete_run(run_id))

    async def health(self) -> dict[str, Any]:
        return await self._do(self._health())

    async def ready(self) -> dict[str, Any]:
        return await self._do(self._ready())

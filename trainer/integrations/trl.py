"""TRL ``GRPOTrainer(reward_funcs=[...])``: the service as a reward function.

>>> from trainer.integrations.trl import MedRewardTRL
>>> reward = MedRewardTRL("vqa-closed", base_url="http://127.0.0.1:8000")
>>> reward.__name__
'medreward_vqa_closed'

TRL calls ``reward(prompts=..., completions=..., completion_ids=..., trainer_state=...,
log_extra=..., log_metric=..., **dataset_columns)`` once per rank per generation batch and
turns a ``None`` into NaN: the sample is left out of that function's baseline instead of
counting as a zero. `AsyncMedRewardTRL` is the ``async`` twin (TRL awaits async reward functions
concurrently; it must detect ``async __call__`` on a class instance, which TRL 1.16 does).

Both are plain picklable objects (TRL's asynchronous GRPO ships reward functions to a worker
process): the HTTP client is created on first use in the process that calls, never pickled.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from trainer.client import AsyncMedRewardClient, MedRewardClient
from trainer.integrations.columns import completion_text, item_fields, prompt_group
from trainer.integrations.config import ShimConfig
from trainer.results import ScoreResult

__all__ = ["AsyncMedRewardTRL", "MedRewardTRL", "report"]

log = logging.getLogger(__name__)

_SKIP = frozenset({"prompt", "prompts", "completion", "completions", "completion_ids", "trainer_state"})


def report(
    result: ScoreResult,
    name: str,
    log_metric: Callable[[str, float], None] | None,
    log_extra: Callable[[str, list[Any]], None] | None,
) -> None:
    """Every component to TRL's logs: its mean over the items it scored and its abstention rate per
    batch (``log_metric``), its value per completion (``log_extra``, NaN = abstained), and the reason
    of each null total."""
    n = len(result)
    if n == 0:
        return
    if log_metric is not None:
        log_metric(f"{name}/abstained", sum(result.abstained) / n)
        for comp, values in result.components.items():
            scored = [v for v in values if v is not None]
            if scored:
                log_metric(f"{name}/{comp}", sum(scored) / len(scored))
            log_metric(f"{name}/{comp}/abstained", 1 - len(scored) / n)
        if result.tau is not None:
            log_metric(f"{name}/tau", result.tau)
    if log_extra is not None:
        for comp, values in result.components.items():
            log_extra(f"{name}/{comp}", [math.nan if v is None else v for v in values])
        log_extra(f"{name}/reason", [result.item_reason(i) or "" for i in range(n)])


class _TRLReward:
    """What the sync and async TRL functions share: configuration, items, logging; no I/O."""

    def __init__(
        self,
        profile: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        run_id: str | None = None,
        group_size: int | None = None,
        name: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        max_batch: int = 512,
    ) -> None:
        self.config = ShimConfig.resolve(
            profile,
            base_url=base_url,
            api_key=api_key,
            run_id=run_id,
            group_size=group_size,
            timeout=timeout,
            max_retries=max_retries,
            max_batch=max_batch,
        )
        # TRL names each reward function's logged columns by `__name__`.
        self.__name__ = name or "medreward_" + re.sub(r"\W", "_", self.config.profile)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in [k for k in state if k.startswith("_client")]:
            state[key] = None  # connections stay in the process that opened them
        return state

    def _request(
        self,
        prompts: Sequence[Any] | None,
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None,
        trainer_state: Any,
        columns: dict[str, Any],
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        n = len(completions)
        per_row = {k: v for k, v in columns.items() if k not in _SKIP and isinstance(v, list | tuple) and len(v) == n}
        items = []
        for i, completion in enumerate(completions):
            item = item_fields({k: v[i] for k, v in per_row.items()})
            item["completion"] = completion_text(completion)
            if "group" not in item and prompts is not None:
                item["group"] = prompt_group(prompts[i])
            if "num_tokens" not in item and completion_ids is not None:
                item["num_tokens"] = len(completion_ids[i])
            items.append(item)
        step = getattr(trainer_state, "global_step", None)
        options = {"run_id": self.config.run_id, "step": step, "group_size": self.config.group_size}
        return items, options

    def _finish(self, result: ScoreResult, columns: dict[str, Any]) -> list[float | None]:
        report(result, self.__name__, columns.get("log_metric"), columns.get("log_extra"))
        return result.rewards


class MedRewardTRL(_TRLReward):
    """A synchronous TRL reward function scoring with a profile (None where the total abstains).

    Args:
        profile: the service's profile (default ``$MEDREWARD_PROFILE``).
        base_url, api_key: the service (default ``$MEDREWARD_URL``, ``$MEDREWARD_API_KEY``).
        run_id: report IoUs to this run, created on first use (default ``$MEDREWARD_RUN_ID``); TRL's
            ``trainer_state.global_step`` goes with each report as the step.
        group_size: ``num_generations`` when the completions of one prompt are spread over several
            ranks, so the service counts each group once it has all of them.
        name: the name TRL logs this function under (default ``medreward_<profile>``).
    """

    _client: MedRewardClient | None = None

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] = (),
        completion_ids: Sequence[Sequence[int]] | None = None,
        trainer_state: Any = None,
        **columns: Any,
    ) -> list[float | None]:
        items, options = self._request(prompts, completions, completion_ids, trainer_state, columns)
        if self._client is None:
            self._client = self.config.sync_client()
        result = self._client.score(items, self.config.profile, **options, details=False)
        return self._finish(result, columns)


class AsyncMedRewardTRL(_TRLReward):
    """The ``async`` twin of `MedRewardTRL` (same arguments): TRL runs it concurrently with other async rewards."""

    _client: AsyncMedRewardClient | None = None
    _client_loop: asyncio.AbstractEventLoop | None = None

    async def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] = (),
        completion_ids: Sequence[Sequence[int]] | None = None,
        trainer_state: Any = None,
        **columns: Any,
    ) -> list[float | None]:
        items, options = self._request(prompts, completions, completion_ids, trainer_state, columns)
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # An httpx.AsyncClient belongs to one event loop: TRL keeps one daemon loop, tests may not.
            self._client, self._client_loop = self.config.async_client(), loop
        result = await self._client.score(items, self.config.profile, **options, details=False)
        return self._finish(result, columns)

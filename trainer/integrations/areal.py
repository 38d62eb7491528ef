"""AReaL ``RLVRWorkflow(reward_fn=...)``: a sync, module-level, picklable reward function.

AReaL calls ``reward_fn(prompt, completions, prompt_ids, completion_ids, **data)`` for one sample,
with every dataset column in ``data``, inside a ``ProcessPoolExecutor`` (``AsyncRewardWrapper``):
a call that takes longer than 15 s is abandoned and scored 0. So each call here is bounded
well below that: 4 s per attempt and 10 s in all, retries included.

``reward_fn`` reads its configuration from ``MEDREWARD_*`` environment variables (they reach the
pool's worker processes); ``make_reward_fn(profile=...)`` returns a picklable function with its
own settings. AReaL wants a float: an item the service cannot score returns ``abstain_value``
(default 0.0) and logs a warning with the service's reason.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from trainer.client import MedRewardClient
from trainer.integrations.columns import completion_text, item_fields, prompt_group
from trainer.integrations.config import ShimConfig

__all__ = ["make_reward_fn", "reward_fn"]

log = logging.getLogger(__name__)

# AReaL's AsyncRewardWrapper: timeout_seconds=15. Stay well inside it.
ATTEMPT_TIMEOUT = 4.0
CALL_DEADLINE = 10.0

# One pooled client per configuration in each worker process (created there, never pickled).
_CLIENTS: dict[ShimConfig, MedRewardClient] = {}


def _score(
    config: ShimConfig,
    abstain_value: float,
    prompt: Any,
    completions: Any,
    prompt_ids: Sequence[int] | None,
    completion_ids: Sequence[int] | None,
    data: dict[str, Any],
) -> float:
    item = item_fields(data)
    item["completion"] = completion_text(completions)
    item.setdefault("group", prompt_group(prompt))
    if completion_ids is not None:
        item.setdefault("num_tokens", len(completion_ids))
    client = _CLIENTS.get(config)
    if client is None:
        client = _CLIENTS[config] = config.sync_client()
    result = client.score([item], config.profile, run_id=config.run_id, group_size=config.group_size, details=False)
    total = result.rewards[0]
    if total is None:
        log.warning("medreward abstained (%s); reward %s", result.item_reason(0), abstain_value)
        return abstain_value
    return total


def _config(profile: str | None, **kwargs: Any) -> ShimConfig:
    return ShimConfig.resolve(
        profile, timeout=ATTEMPT_TIMEOUT, deadline=CALL_DEADLINE, max_retries=3, max_batch=1, **kwargs
    )


def reward_fn(
    prompt: Any,
    completions: Any,
    prompt_ids: Sequence[int] | None = None,
    completion_ids: Sequence[int] | None = None,
    **data: Any,
) -> float:
    """Score one AReaL sample with ``$MEDREWARD_PROFILE`` at ``$MEDREWARD_URL`` (``abstain_value`` 0.0)."""
    abstain = float(os.environ.get("MEDREWARD_ABSTAIN_VALUE", "0.0"))
    return _score(_config(None), abstain, prompt, completions, prompt_ids, completion_ids, data)


def _configured(
    config: ShimConfig,
    abstain_value: float,
    prompt: Any,
    completions: Any,
    prompt_ids: Sequence[int] | None = None,
    completion_ids: Sequence[int] | None = None,
    **data: Any,
) -> float:
    return _score(config, abstain_value, prompt, completions, prompt_ids, completion_ids, data)


def make_reward_fn(
    profile: str | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    run_id: str | None = None,
    group_size: int | None = None,
    abstain_value: float = 0.0,
) -> Callable[..., float]:
    """A picklable ``reward_fn`` with its own settings (arguments first, then ``MEDREWARD_*``).

    >>> import pickle
    >>> fn = make_reward_fn("vqa-closed", base_url="http://rm:8000")
    >>> pickle.loads(pickle.dumps(fn)).args[0].profile
    'vqa-closed'
    """
    config = _config(profile, base_url=base_url, api_key=api_key, run_id=run_id, group_size=group_size)
    return functools.partial(_configured, config, abstain_value)

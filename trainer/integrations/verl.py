"""verl ``reward.custom_reward_function``: an ``async compute_score`` that scores with the service.

verl's reward loop (0.9.1: ``verl/experimental/reward_loop``) calls, for every sample::

    await compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...,
                        **reward.custom_reward_function.reward_kwargs)

and reads back ``{"score": float, ...}``: ``score`` becomes the token-level reward, every other key
goes to ``reward_extra_info``, which verl stacks across the batch by the keys of the *first*
sample. So every sample returns the same keys: ``score``, one per profile component (NaN where
it abstained), ``abstained`` (1.0 when the total is null, ``score`` is then ``abstain_score``) and
``tau`` when a run is attached.

verl passes no prompt: a GRPO group needs an id in ``extra_info`` (``group``, ``uid`` or
``index``), put there at preprocessing. Configuration comes from ``reward_kwargs`` or the
``MEDREWARD_*`` environment variables.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from trainer.client import AsyncMedRewardClient
from trainer.integrations.columns import item_fields, label_fields
from trainer.integrations.config import ShimConfig

__all__ = ["compute_score", "verl_item"]

# One client per (configuration, event loop): verl runs several reward workers, each with its own loop.
_CLIENTS: dict[tuple[ShimConfig, int], AsyncMedRewardClient] = {}
# The ids verl users put into extra_info at preprocessing, in the order they are looked up.
GROUP_KEYS = ("group", "uid", "index")


def verl_item(solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None) -> dict[str, Any]:
    """One verl sample → a service item: Item fields from ``extra_info``, the reference from ``ground_truth``.

    >>> info = {"options": {"A": "effusion", "B": "edema"}, "index": 7, "split": "train"}
    >>> verl_item("<answer>B</answer>", "B", info)  # doctest: +NORMALIZE_WHITESPACE
    {'options': {'A': 'effusion', 'B': 'edema'}, 'reference': 'B', 'group': 'train:7',
     'completion': '<answer>B</answer>'}
    """
    info = dict(extra_info or {})
    item = {k: v for k, v in item_fields(info).items() if k != "reference"}
    for key, value in label_fields(ground_truth).items():
        item.setdefault(key, value)
    if "reference" not in item:  # no ground_truth: a reference column kept in extra_info still counts
        reference = item_fields(info).get("reference")
        if reference is not None:
            item["reference"] = reference
    if "group" not in item:
        for key in GROUP_KEYS[1:]:
            if info.get(key) is not None:
                split = info.get("split")
                item["group"] = f"{split}:{info[key]}" if split and key == "index" else str(info[key])
                break
    item["completion"] = solution_str
    return item


def _client(config: ShimConfig) -> AsyncMedRewardClient:
    key = (config, id(asyncio.get_running_loop()))
    client = _CLIENTS.get(key)
    if client is None:
        client = _CLIENTS[key] = config.async_client()
    return client


async def compute_score(
    data_source: str | None = None,
    solution_str: str = "",
    ground_truth: Any = None,
    extra_info: dict[str, Any] | None = None,
    *,
    profile: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    run_id: str | None = None,
    group_size: int | None = None,
    abstain_score: float = 0.0,
    timeout: float = 60.0,
    max_retries: int = 5,
    **_: Any,
) -> dict[str, float]:
    """Score one verl sample with a profile: ``{"score", <component>..., "abstained"[, "tau"]}``.

    ``data_source`` is not read (route by profile instead); other verl kwargs
    (``reward_router_address``, ...) are ignored. A request the service refuses (a malformed
    label: 422) raises `trainer.MedRewardError`: it is the dataset's bug, not a reward of 0.
    """
    config = ShimConfig.resolve(
        profile,
        base_url=base_url,
        api_key=api_key,
        run_id=run_id,
        group_size=group_size,
        timeout=timeout,
        max_retries=max_retries,
    )
    item = verl_item(solution_str, ground_truth, extra_info)
    result = await _client(config).score(
        [item], config.profile, run_id=config.run_id, group_size=config.group_size, details=False
    )
    total = result.rewards[0]
    out = {"score": abstain_score if total is None else total}
    for name, values in result.components.items():
        out[name] = math.nan if values[0] is None else values[0]
    out["abstained"] = 1.0 if total is None else 0.0
    if config.run_id is not None:
        out["tau"] = result.tau if result.tau is not None else math.nan
    return out

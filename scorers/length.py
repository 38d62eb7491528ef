"""The ``length`` reward: length shaping, alone or gated on correctness.

Modes (``L`` = completion length in whitespace words, or the trainer's ``num_tokens``):

* ``range``: 1 inside ``[min_len, max_len]``, linear ramps of width ``soft_min`` below and
  ``soft_max`` above (0 outside them; hard edges when a width is 0). Range [0, 1].
* ``cosine``: "Demystifying Long CoT" (arXiv 2502.03373) with TRL's ``get_cosine_scaled_reward``
  defaults: ``progress = min(L / max_len, 1)``, ``r = lo + ½(hi − lo)(1 + cos(π·progress))``
  with ``(lo, hi) = (min_value_correct, max_value_correct)`` for a correct answer (short and
  right → 1.0) and ``(max_value_wrong, min_value_wrong)`` for a wrong one (short and wrong →
  −1.0, long and wrong → −0.5). Range [−1, 1].
* ``overlong``: DAPO's soft overlong punishment (arXiv 2503.14476, Eq. 13): 0 up to
  ``max_len − cache_len``, then linear down to −1 at ``max_len``, −1 beyond. Range [−1, 0].
* ``ecr`` / ``cwr``: the medical VQA RL study's (Zhu et al., arXiv 2505.13973) Extended Chain
  Reward (length rewarded unconditionally) and Correctness-Weighted length Reward (only when
  correct). The paper's exact formulas were not published; we use the
  forms its description implies: ``min(L / max_len, 1)`` and
  ``1[correct] · min(L / max_len, 1)``. Range [0, 1]. The study found both hurt accuracy
  (50.17% and 54.68% vs 58.04% for plain GRPO): they are here to reproduce its ablation.

Correctness (``cosine``, ``cwr``) is the ``answer`` reward on the same item, called once per
batch with the ``answer`` params sub-dict; an answer reward ≥ ``correct_threshold`` (default
0.5, so ordinal partial credit of at least half counts) is correct. An item with no reference,
or on which ``answer`` abstains, abstains here too: a length bonus must never be paid on an
answer nobody could check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from scorers.registry import REGISTRY, Params, register, score
from scorers.types import Item, Score

NEEDS_CORRECTNESS = frozenset({"cosine", "cwr"})


class LengthParams(Params):
    """Params of the ``length`` reward."""

    mode: Literal["range", "cosine", "overlong", "ecr", "cwr"] = Field(
        default="range", description="range | cosine (correctness-aware) | overlong (DAPO) | ecr | cwr (Zhu et al.)."
    )
    unit: Literal["words", "tokens"] = Field(
        default="words", description="words: whitespace tokens of the completion; tokens: the item's num_tokens."
    )
    # open-r1's cosine_max_len default; TRL's get_cosine_scaled_reward has no default.
    max_len: int = Field(
        default=1000,
        gt=0,
        description="range: upper edge of the band; cosine: length at which the schedule ends; overlong: "
        "the hard limit L_max; ecr/cwr: the length that earns the full reward.",
    )
    min_len: int = Field(default=0, ge=0, description="range: lower edge of the band.")
    soft_min: int = Field(default=0, ge=0, description="range: width of the linear ramp 0 → 1 below min_len.")
    soft_max: int = Field(default=0, ge=0, description="range: width of the linear decay 1 → 0 above max_len.")
    cache_len: int | None = Field(
        default=None,
        gt=0,
        description="overlong: DAPO's L_cache (the soft-punishment buffer); default max_len // 4 "
        "(open-r1's config: 16384 / 4096).",
    )
    # TRL get_cosine_scaled_reward defaults (trl/rewards); bounded to [-1, 1] so that the declared
    # range holds: scale with the profile weight instead (Demystify's paper used −10…2).
    min_value_wrong: float = Field(default=-1.0, ge=-1.0, le=1.0, description="cosine: short wrong answer.")
    max_value_wrong: float = Field(default=-0.5, ge=-1.0, le=1.0, description="cosine: long wrong answer.")
    min_value_correct: float = Field(default=0.5, ge=-1.0, le=1.0, description="cosine: long correct answer.")
    max_value_correct: float = Field(default=1.0, ge=-1.0, le=1.0, description="cosine: short correct answer.")
    correct_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="cosine/cwr: an answer reward at least this is correct."
    )
    answer: dict[str, Any] = Field(
        default_factory=dict, description="cosine/cwr: params of the answer reward that judges correctness."
    )

    @model_validator(mode="after")
    def _consistent(self) -> LengthParams:
        if self.min_len > self.max_len:
            raise ValueError(f"min_len ({self.min_len}) must not exceed max_len ({self.max_len})")
        if self.cache_len is not None and self.cache_len > self.max_len:
            raise ValueError(f"cache_len ({self.cache_len}) must not exceed max_len ({self.max_len})")
        if self.mode in NEEDS_CORRECTNESS and "answer" in REGISTRY:
            # Bad answer params are the caller's mistake: say so now (422), not per item later.
            REGISTRY["answer"].params.model_validate(self.answer)
        return self


def range_reward(length: int, min_len: int, max_len: int, soft_min: int = 0, soft_max: int = 0) -> float:
    """1 inside ``[min_len, max_len]``, linear ramps of the given widths outside, else 0.

    >>> [range_reward(n, 10, 20, soft_min=5, soft_max=10) for n in (4, 5, 15, 25, 30)]
    [0.0, 0.0, 1.0, 0.5, 0.0]
    """
    if length < min_len:
        return max(0.0, 1.0 - (min_len - length) / soft_min) if soft_min else 0.0
    if length > max_len:
        return max(0.0, 1.0 - (length - max_len) / soft_max) if soft_max else 0.0
    return 1.0


def cosine_reward(length: int, correct: bool, p: LengthParams) -> float:
    """TRL's clamped cosine schedule ("Demystifying Long CoT").

    >>> p = LengthParams(mode="cosine", max_len=100)
    >>> cosine_reward(50, True, p), cosine_reward(50, False, p), cosine_reward(0, False, p)
    (0.75, -0.75, -1.0)
    """
    lo, hi = (p.min_value_correct, p.max_value_correct) if correct else (p.max_value_wrong, p.min_value_wrong)
    progress = min(length / p.max_len, 1.0)  # TRL clamps; open-r1 does not (cos is periodic)
    return lo + 0.5 * (hi - lo) * (1.0 + math.cos(progress * math.pi))


def overlong_reward(length: int, max_len: int, cache_len: int) -> float:
    """DAPO Eq. 13: 0, then a linear soft punishment over the last ``cache_len``, then −1.

    >>> [overlong_reward(n, 100, 20) for n in (50, 80, 90, 100, 110)]
    [0.0, 0.0, -0.5, -1.0, -1.0]
    """
    expected = max_len - cache_len
    if length <= expected:
        return 0.0
    if length <= max_len:
        return (expected - length) / cache_len
    return -1.0


def _has_reference(item: Item) -> bool:
    ref = item.reference
    if isinstance(ref, str):
        return bool(ref.strip())
    return ref is not None and any(r.strip() for r in ref)


def _correctness(items: Sequence[Item], p: LengthParams) -> list[Score | None]:
    """The answer reward of each item with a reference (one batched call), None for the others."""
    judged = [i for i, it in enumerate(items) if _has_reference(it)]
    out: list[Score | None] = [None] * len(items)
    if judged:
        scores = score("answer", [items[i] for i in judged], p.answer)
        for i, s in zip(judged, scores, strict=True):
            out[i] = s
    return out


def _length(item: Item, unit: str) -> int | None:
    if unit == "tokens":
        return item.num_tokens
    return len(item.completion.split())


@register(
    "length",
    params=LengthParams,
    range=(-1.0, 1.0),
    description="Length shaping: range (target band with soft edges), cosine (correctness-aware, TRL defaults), "
    "overlong (DAPO soft punishment), ecr/cwr (length rewarded always / only when correct, Zhu et al.).",
    citation="Yeo et al., Demystifying Long Chain-of-Thought Reasoning in LLMs, arXiv 2502.03373 (via TRL "
    "get_cosine_scaled_reward); Yu et al., DAPO, arXiv 2503.14476 Eq. 13; Zhu et al., Toward Effective RL "
    "Fine-Tuning for Medical VQA in VLMs, arXiv 2505.13973 (ECR/CWR).",
    examples=[
        {"completion": "<think>The right costophrenic angle is blunted.</think><answer>effusion</answer>"},
        {"completion": "short", "num_tokens": 3},
        {"completion": "word " * 1200, "reference": "yes"},
    ],
)
def length_reward(items: Sequence[Item], params: LengthParams) -> list[Score]:
    """Shape rewards by completion length; range [-1, 1] over all modes (see the module docstring).

    >>> items = [Item(completion="one two three"), Item(completion="x", num_tokens=95)]
    >>> [s.reward for s in length_reward(items, LengthParams(min_len=2, max_len=5))]
    [1.0, 0.0]
    >>> [s.reward for s in length_reward(items, LengthParams(mode="overlong", unit="tokens", max_len=100))]
    [None, -0.8]
    """
    mode, unit = params.mode, params.unit
    if mode in NEEDS_CORRECTNESS and "answer" not in REGISTRY:
        return [Score.error(f"mode {mode!r} needs the answer reward, which is not registered") for _ in items]
    judged = _correctness(items, params) if mode in NEEDS_CORRECTNESS else [None] * len(items)
    cache_len = params.cache_len if params.cache_len is not None else max(1, params.max_len // 4)
    out: list[Score] = []
    for item, verdict in zip(items, judged, strict=True):
        length = _length(item, unit)
        if length is None:
            out.append(Score.unscorable("num_tokens missing (unit='tokens')"))
            continue
        if mode == "range":
            reward = range_reward(length, params.min_len, params.max_len, params.soft_min, params.soft_max)
        elif mode == "overlong":
            reward = overlong_reward(length, params.max_len, cache_len)
        elif mode == "ecr":
            reward = min(length / params.max_len, 1.0)
        else:  # cosine, cwr: gated on the answer's correctness
            if verdict is None or verdict.reward is None:
                extra = {} if verdict is None else {"answer_reason": verdict.details.get("reason")}
                out.append(Score.unscorable("no reference to judge correctness", length=length, **extra))
                continue
            correct = verdict.reward >= params.correct_threshold
            if mode == "cosine":
                reward = cosine_reward(length, correct, params)
            else:
                reward = min(length / params.max_len, 1.0) if correct else 0.0
            out.append(Score.ok(reward, length=length, unit=unit, correct=correct, answer_reward=verdict.reward))
            continue
        out.append(Score.ok(reward, length=length, unit=unit))
    return out


__all__ = ["LengthParams", "cosine_reward", "length_reward", "overlong_reward", "range_reward"]

"""The ``length`` reward, mode by mode, from what each schedule is meant to do to a model's reasoning."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from scorers import score
from scorers.length import LengthParams, cosine_reward, overlong_reward, range_reward
from tests.hang_guard import finishes_without_hanging


def words(n: int) -> str:
    return " ".join(["opacity"] * n)


# (item fields, params, reward, note)
CASES: list[tuple[dict[str, Any], dict[str, Any], float | None, str]] = [
    # range: a target band of reasoning length.
    ({"completion": words(3)}, {"min_len": 2, "max_len": 5}, 1.0, "inside the band"),
    ({"completion": words(2)}, {"min_len": 2, "max_len": 5}, 1.0, "on the lower edge"),
    ({"completion": words(5)}, {"min_len": 2, "max_len": 5}, 1.0, "on the upper edge"),
    ({"completion": words(1)}, {"min_len": 2, "max_len": 5}, 0.0, "too short, hard edge"),
    ({"completion": words(6)}, {"min_len": 2, "max_len": 5}, 0.0, "too long, hard edge"),
    ({"completion": words(8)}, {"min_len": 10, "max_len": 20, "soft_min": 5}, 0.6, "soft ramp below"),
    ({"completion": words(25)}, {"min_len": 10, "max_len": 20, "soft_max": 10}, 0.5, "soft decay above"),
    ({"completion": words(40)}, {"min_len": 10, "max_len": 20, "soft_max": 10}, 0.0, "past the decay"),
    ({"completion": "a\n\tb   c\n"}, {"min_len": 3, "max_len": 3}, 1.0, "any whitespace splits words"),
    ({"completion": ""}, {"min_len": 1, "max_len": 3}, 0.0, "empty completion is length 0, scored"),
    ({"completion": "x", "num_tokens": 4}, {"unit": "tokens", "min_len": 2, "max_len": 5}, 1.0, "tokens from item"),
    ({"completion": words(4)}, {"unit": "tokens"}, None, "tokens asked for, none sent: abstain"),
    # overlong: DAPO Eq. 13 with L_max=100, L_cache=20 (TRL's docstring example).
    ({"completion": words(50)}, {"mode": "overlong", "max_len": 100, "cache_len": 20}, 0.0, "well under"),
    ({"completion": words(80)}, {"mode": "overlong", "max_len": 100, "cache_len": 20}, 0.0, "at the buffer start"),
    ({"completion": words(90)}, {"mode": "overlong", "max_len": 100, "cache_len": 20}, -0.5, "half into buffer"),
    ({"completion": words(100)}, {"mode": "overlong", "max_len": 100, "cache_len": 20}, -1.0, "at L_max"),
    ({"completion": words(110)}, {"mode": "overlong", "max_len": 100, "cache_len": 20}, -1.0, "past L_max"),
    ({"completion": "x", "num_tokens": 95}, {"mode": "overlong", "unit": "tokens", "max_len": 100}, -0.8, "cache=L/4"),
    # ecr: longer is better, unconditionally (Zhu et al.'s ablation).
    ({"completion": words(50)}, {"mode": "ecr", "max_len": 100}, 0.5, "half of L_max"),
    ({"completion": words(150)}, {"mode": "ecr", "max_len": 100}, 1.0, "capped at 1"),
    ({"completion": ""}, {"mode": "ecr", "max_len": 100}, 0.0, "nothing written"),
    ({"completion": "no", "reference": "yes"}, {"mode": "ecr", "max_len": 2}, 0.5, "wrong answers paid too"),
]


@pytest.mark.parametrize(("fields", "params", "reward"), [c[:3] for c in CASES], ids=[c[3] for c in CASES])
def test_length_modes(fields: dict[str, Any], params: dict[str, Any], reward: float | None) -> None:
    (s,) = score("length", [fields], params)
    if reward is None:
        assert s.reward is None and s.status == "unscorable" and s.details["reason"]
    else:
        assert s.status == "ok"
        assert s.reward == pytest.approx(reward)


def answer_item(said: str, reference: str | None, n_tokens: int) -> dict[str, Any]:
    completion = f"<think>The costophrenic angles are sharp.</think><answer>{said}</answer>"
    return {"completion": completion, "reference": reference, "kind": "closed", "num_tokens": n_tokens}


COSINE = {"mode": "cosine", "unit": "tokens", "max_len": 100}
CWR = {"mode": "cwr", "unit": "tokens", "max_len": 100}

# Correctness comes from the real `answer` reward (closed yes/no items: unambiguous).
GATED: list[tuple[dict[str, Any], dict[str, Any], float | None, str]] = [
    (answer_item("yes", "yes", 0), COSINE, 1.0, "short and right: max_value_correct"),
    (answer_item("yes", "yes", 50), COSINE, 0.75, "right, half way (TRL example)"),
    (answer_item("yes", "yes", 100), COSINE, 0.5, "right at max_len: min_value_correct"),
    (answer_item("yes", "yes", 400), COSINE, 0.5, "right past max_len: progress clamped"),
    (answer_item("no", "yes", 0), COSINE, -1.0, "short and wrong: punished hardest"),
    (answer_item("no", "yes", 50), COSINE, -0.75, "wrong, half way (TRL example)"),
    (answer_item("no", "yes", 400), COSINE, -0.5, "long and wrong: max_value_wrong"),
    (answer_item("yes", None, 50), COSINE, None, "no reference: abstain, not 0"),
    (answer_item("yes", "  ", 50), COSINE, None, "blank reference: abstain"),
    (answer_item("yes", "yes", 50), CWR, 0.5, "right: length paid"),
    (answer_item("yes", "yes", 500), CWR, 1.0, "right and long: capped"),
    (answer_item("no", "yes", 50), CWR, 0.0, "wrong: no length bonus"),
    (answer_item("yes", None, 50), CWR, None, "no reference: abstain"),
]


@pytest.mark.parametrize(("fields", "params", "reward"), [c[:3] for c in GATED], ids=[c[3] for c in GATED])
def test_correctness_gated(fields: dict[str, Any], params: dict[str, Any], reward: float | None) -> None:
    (s,) = score("length", [fields], params)
    if reward is None:
        assert (s.reward, s.status, s.details["reason"]) == (None, "unscorable", "no reference to judge correctness")
    else:
        assert s.status == "ok", s.details
        assert s.reward == pytest.approx(reward)
        assert s.details["correct"] is (reward > 0)  # both modes pay only right answers positively


def test_gated_batch_keeps_order() -> None:
    """One answer call per batch; items without a reference do not shift the others' verdicts."""
    items = [answer_item("yes", "yes", 0), answer_item("yes", None, 0), answer_item("no", "yes", 0)]
    assert [s.reward for s in score("length", items, COSINE)] == [1.0, None, -1.0]


@pytest.mark.parametrize(
    "params",
    [
        {"min_len": 10, "max_len": 5},
        {"mode": "overlong", "max_len": 100, "cache_len": 200},
        {"max_len": 0},
        {"min_value_wrong": -10.0},
        {"mode": "linear"},
        {"unit": "chars"},
        {"correct_threshold": 2.0},
        {"mode": "cosine", "answer": {"no_such_param": 1}},
    ],
    ids=["min>max", "cache>max", "zero max", "out of range", "bad mode", "bad unit", "threshold", "answer params"],
)
def test_bad_params_are_rejected(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        score("length", [{"completion": "x"}], params)


# Deliberately naive references: the shapes drawn as piecewise-linear curves through their corners.
@pytest.mark.parametrize("n", range(0, 60, 3), ids=lambda n: f"L={n}")
def test_range_matches_naive_interpolation(n: int) -> None:
    naive = float(np.interp(n, [5, 15, 30, 50], [0.0, 1.0, 1.0, 0.0]))
    assert range_reward(n, 15, 30, soft_min=10, soft_max=20) == pytest.approx(naive)


@pytest.mark.parametrize("n", range(0, 140, 7), ids=lambda n: f"L={n}")
def test_overlong_matches_naive_interpolation(n: int) -> None:
    naive = float(np.interp(n, [0, 75, 100, 101, 1000], [0.0, 0.0, -1.0, -1.0, -1.0]))
    assert overlong_reward(n, 100, 25) == pytest.approx(naive)


@pytest.mark.parametrize("n", range(0, 120, 10), ids=lambda n: f"L={n}")
def test_cosine_is_monotone_and_bounded(n: int) -> None:
    """Correct answers lose reward as they grow, wrong ones gain: the paper's intent, not open-r1's config."""
    p = LengthParams(mode="cosine", max_len=100)
    right, wrong = cosine_reward(n, True, p), cosine_reward(n, False, p)
    assert 0.5 <= right <= 1.0 and -1.0 <= wrong <= -0.5
    assert right >= cosine_reward(n + 10, True, p) and wrong <= cosine_reward(n + 10, False, p)
    assert right == pytest.approx(0.75 + 0.25 * math.cos(math.pi * min(n / 100, 1)))


def test_huge_completion_does_not_hang() -> None:
    with finishes_without_hanging():
        (s,) = score("length", [{"completion": "word " * 20_000}], {"mode": "ecr"})
    assert s.reward == 1.0

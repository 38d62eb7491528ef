"""`reward_response` writes the bytes the validated `RewardResponse` model writes, whatever the scorers return."""

from __future__ import annotations

import enum
import math
import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.api.responses import json_response
from app.api.routes.rewards import finite, reward_response
from app.schemas import RewardResponse
from scorers import Score


class Colour(enum.Enum):
    RED = "red"


def _model_bytes(scores: list[Score], schedule: dict[str, Any] | None, details: bool = True) -> bytes:
    """What the route wrote before: the validated model through pydantic (or its fallback)."""
    rewards = [finite(s.reward) for s in scores]
    model = RewardResponse(
        rewards=rewards,
        status=[s.status for s in scores],
        reasons=[_reason(s) if r is None else None for s, r in zip(scores, rewards, strict=True)],
        details=[s.details for s in scores] if details else None,
        schedule=schedule,
    )
    return bytes(json_response(model).body)


def _reason(s: Score) -> str:
    """Why a reward is null: the details' reason as text, else the status (for a None reward) or
    the scorer's bug (for a NaN or an infinity)."""
    if s.details.get("reason") is not None:
        return str(s.details["reason"])
    return s.status if s.reward is None else "the scorer returned a non-finite reward"


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from([np.float64(0.25), np.int64(3), Colour.RED, uuid.UUID(int=7), 2**64])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
rewards = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1, 0, True, np.float64(0.5)])
scores = st.builds(
    Score,
    rewards,
    st.sampled_from(["ok", "unscorable", "error"]),
    st.dictionaries(st.text(max_size=6), values, max_size=5),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(scores, max_size=6),
    st.none() | st.dictionaries(st.text(max_size=6), values, max_size=4),
    st.booleans(),
)
def test_the_same_bytes_as_the_validated_model(
    batch: list[Score], schedule: dict[str, Any] | None, details: bool
) -> None:
    assert bytes(reward_response(batch, schedule, details=details).body) == _model_bytes(batch, schedule, details)


@pytest.mark.parametrize(
    "details",
    [
        {"iou": 0.875, "pairs": ((0, 0, 0.875, 0.875),), "boxes": ((24.0, 20.0, 84.0, 90.0),), "format": "list"},
        {"x": float("nan"), "y": -math.inf, "z": 1e-7, "w": 5e-324, "s": "é\u2028\x00\x1f"},
        {"set": {1, 2}},  # orjson refuses it: pydantic writes it
        {"big": 2**64},
        {"numpy": np.float64(0.5)},
    ],
)
def test_details_of_every_kind(details: dict[Any, Any]) -> None:
    batch = [Score(0.5, "ok", details), Score(None, "unscorable", {"reason": "no box"})]
    assert bytes(reward_response(batch, None).body) == _model_bytes(batch, None)
    assert reward_response(batch, None).headers["content-type"] == "application/json"


def test_details_the_model_refuses_still_raise() -> None:
    """A non-str key fails the model's validation (a scorer bug, answered 500): so it still does."""
    batch = [Score(0.5, "ok", {1: "int key"})]
    with pytest.raises(ValidationError):
        _model_bytes(batch, None)
    with pytest.raises(ValidationError):
        reward_response(batch, None)


@pytest.mark.parametrize(
    "batch",
    [
        [Score(1e308), Score(1e308)],  # each finite, their sum not: the careful path, no reason
        [Score(0.5), Score.unscorable("no box found"), Score(math.nan)],
        [Score(0.25), Score(None, "error", {})],
        [],
    ],
    ids=["sum-overflows", "abstentions", "no-reason", "empty"],
)
def test_batches_off_the_usual_path(batch: list[Score]) -> None:
    assert bytes(reward_response(batch, None).body) == _model_bytes(batch, None)

"""`reward_response` writes the bytes the validated `RewardResponse` model writes, whatever the scorers return."""

from __future__ import annotations

import enum
import json
import math
import uuid
from typing import Any

import msgspec
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
# What `reward_response` is given: a batch of scores, a schedule or none, details asked for or not.
RESPONSES = (
    st.lists(scores, max_size=6),
    st.none() | st.dictionaries(st.text(max_size=6), values, max_size=4),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(*RESPONSES)
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


def _finite_or_none(value: Any) -> Any:
    """The JSON response's reading of a value: non-finite floats are null there."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def _json_wrote_it_plainly(batch: list[Score], schedule: dict[str, Any] | None, details: bool) -> bool:
    """False where pydantic could not write the model and the last-resort encoder (reprs) did."""
    rewards = [finite(s.reward) for s in batch]
    model = RewardResponse(
        rewards=rewards,
        status=[s.status for s in batch],
        reasons=[None] * len(batch),
        details=[s.details for s in batch] if details else None,
        schedule=schedule,
    )
    try:
        model.model_dump_json()
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(*RESPONSES)
def test_msgpack_carries_the_json_responses_values(
    batch: list[Score], schedule: dict[str, Any] | None, details: bool
) -> None:
    as_json = reward_response(batch, schedule, details=details)
    as_msgpack = reward_response(batch, schedule, details=details, msgpack=True)
    assert as_msgpack.headers["content-type"] == "application/msgpack"
    assert as_msgpack.headers["vary"] == as_json.headers["vary"] == "accept"
    decoded = msgspec.msgpack.decode(as_msgpack.body)
    # Rewards are null where not finite in both encodings; inside details MessagePack keeps a NaN.
    assert all(r is None or math.isfinite(r) for r in decoded["rewards"])
    expected = json.loads(as_json.body)
    if not _json_wrote_it_plainly(batch, schedule, details):
        # The JSON response fell back to reprs for what pydantic cannot write; MessagePack writes
        # pydantic's values where it has them, so only the shape is compared.
        assert decoded.keys() == expected.keys() and len(decoded["rewards"]) == len(expected["rewards"])
        return
    assert _close(_finite_or_none(decoded), expected)


def _close(a: Any, b: Any) -> bool:
    """Equal, with integers past MessagePack's 64 bits compared as the floats it carries them as."""
    if isinstance(b, int) and not isinstance(b, bool) and isinstance(a, float):
        return a == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def test_msgpack_keeps_a_nan_inside_details_and_nulls_a_nan_reward() -> None:
    batch = [Score(0.5, "ok", {"x": math.nan, "box": (1.0, 2.0)}), Score(math.nan, "ok", {"y": math.inf})]
    decoded = msgspec.msgpack.decode(reward_response(batch, None, msgpack=True).body)
    assert decoded["rewards"] == [0.5, None]
    assert decoded["reasons"] == [None, "the scorer returned a non-finite reward"]
    assert math.isnan(decoded["details"][0]["x"]) and decoded["details"][0]["box"] == [1.0, 2.0]
    assert decoded["details"][1]["y"] == math.inf
    # The fast path (every reward finite) and the model's path write a details NaN alike.
    alone = msgspec.msgpack.decode(reward_response(batch[:1], None, msgpack=True).body)
    assert math.isnan(alone["details"][0]["x"])

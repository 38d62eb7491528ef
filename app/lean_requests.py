"""``POST /v1/rewards/{name}`` and ``POST /v1/score`` bodies decoded by msgspec when they are plainly valid.

Validating a 256-item box batch into `RewardRequest` (a pydantic `Item` model per item) took
~0.30 ms of a ~1.5 ms request; msgspec decodes the same body into `ItemRecord` structs in
~0.07 ms (`scorers.item_records`). Anything msgspec refuses, a run's fields included, gets
None here and is validated by the model as before, so every error message is unchanged.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import msgspec

from app.schemas import RewardRequest, ScoreRequest
from scorers import Item
from scorers.item_records import ItemRecord


class _PlainRewardRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A `RewardRequest` without a run: its items and params only."""

    items: list[ItemRecord]
    params: dict[str, Any] = msgspec.field(default_factory=dict)


class _PlainScoreRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A `ScoreRequest` by profile name without a run: an inline profile goes to the model."""

    profile: str
    items: list[ItemRecord]


_S = TypeVar("_S", bound=msgspec.Struct)


def _decoded(decoder: msgspec.json.Decoder[_S], body: bytes) -> _S | None:
    try:
        return decoder.decode(body)
    except msgspec.MsgspecError:
        return None


_REWARD = msgspec.json.Decoder(_PlainRewardRequest)
_SCORE = msgspec.json.Decoder(_PlainScoreRequest)


# In both, the model's other fields keep their defaults (no run): the decoder refused any of them.
# The records stand in for Items: they have the same fields, and the routes only read fields.


def plain_reward_request(body: bytes) -> RewardRequest | None:
    """The request in ``body`` with its items as records, or None: validate it with the model."""
    plain = _decoded(_REWARD, body)
    if plain is None:
        return None
    return RewardRequest.model_construct(items=cast("list[Item]", plain.items), params=plain.params)


def plain_score_request(body: bytes) -> ScoreRequest | None:
    """`plain_reward_request` for ``POST /v1/score``."""
    plain = _decoded(_SCORE, body)
    if plain is None:
        return None
    return ScoreRequest.model_construct(profile=plain.profile, items=cast("list[Item]", plain.items))

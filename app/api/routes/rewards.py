"""The reward registry over HTTP: list the rewards, score a batch with one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import attrgetter
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Response

from app.api.deps import ServiceDep, TenantDep
from app.api.errors import ApiError, not_found
from app.api.media import msgpack_alternative
from app.api.responses import fast_response, model_response
from app.limits import check_items, check_outbound
from app.schemas import RewardInfo, RewardList, RewardRequest, RewardResponse
from app.scoring import SCHEDULED_REWARD, build_params, open_run, record_reward, score_one_reward
from scorers import REGISTRY, Score
from scorers.types import rewards_of

router = APIRouter(prefix="/v1/rewards", tags=["rewards"])

RewardName = Annotated[str, Path(max_length=64, description="A registered reward.", examples=["format"])]


def finite(x: float | None) -> float | None:
    """JSON has no NaN/inf: a non-finite reward is an abstention, not a crash."""
    return x if x is None or math.isfinite(x) else None


@router.get("", response_model=RewardList)
def list_rewards(_: TenantDep) -> RewardList:
    """List every registered reward with its params schema and range."""
    return RewardList(rewards=[RewardInfo(**spec.info()) for spec in REGISTRY.values()])


@router.get("/{name}", response_model=RewardInfo)
def get_reward_info(name: RewardName, _: TenantDep) -> RewardInfo:
    """One reward's description, params schema and range."""
    if name not in REGISTRY:
        raise not_found("reward", name, list(REGISTRY), "name")
    return RewardInfo(**REGISTRY[name].info())


@router.post("/{name}", response_model=RewardResponse, responses=msgpack_alternative("RewardResponse"))
def score_reward(
    name: RewardName,
    body: RewardRequest,
    svc: ServiceDep,
) -> Response:
    """Score a batch with one reward (with ``run_id``, IoUs go to the run's scheduler)."""
    tenant, settings, store, buffer = svc.tenant, svc.settings, svc.store, svc.buffer
    if name not in REGISTRY:
        raise not_found("reward", name, list(REGISTRY), "name")
    check_items(body.items, settings)
    params = build_params(name, body.params)
    check_outbound(params, svc.profiles.judges, "params")
    run = (
        open_run(store, tenant, body.run_id, None, body.step, body.request_id, body.group_size, buffer)
        if body.run_id and name == SCHEDULED_REWARD
        else None
    )
    if body.run_id and run is None:
        raise ApiError(422, "not_scheduled", f"run_id applies to the {SCHEDULED_REWARD!r} reward only", "run_id")
    scores, schedule = score_one_reward(name, body.items, params, run)
    if run is not None:
        record_reward(run, name, body.items, scores, schedule)
    return reward_response(scores, schedule, details=body.details, msgpack=svc.msgpack)


_STATUS = attrgetter("status")
_DETAILS = attrgetter("details")
_PLAIN_REWARDS = frozenset({float, type(None)})
_FLOATS = frozenset({float})


def reward_response(
    scores: Sequence[Score], schedule: dict[str, Any] | None, *, details: bool = True, msgpack: bool = False
) -> Response:
    """The `RewardResponse` for these scores, as bytes (``details=False``: with details null;
    ``msgpack=True``: MessagePack, `app.api.responses`).

    Validating the response model (a float check per reward, a copy of every details dict) and
    pydantic's serialiser cost ~1.5 µs per item of a 256-item box batch, a third of the scorer's
    own time, for values the scorers already produce in the model's types. When every reward is
    a finite float or None, every status a str and every details a dict, the payload is written
    as it is (`fast_response`: the same bytes); anything else (an int or numpy reward, a
    non-finite one) goes through the model's validation as before.
    """
    rewards = rewards_of(scores)
    status = list(map(_STATUS, scores))
    per_item = list(map(_DETAILS, scores)) if details else None
    kinds = set(map(type, rewards))
    # The usual batch, every reward a finite float, settles both the reasons and the rewards'
    # part of the check below in one pass and one sum (a NaN or infinity makes the sum
    # non-finite; so may an overflow, which then takes the careful path).
    usual = kinds == _FLOATS and math.isfinite(sum(cast("list[float]", rewards)))
    reasons: list[str | None] = [None] * len(scores) if usual else reasons_of(scores, rewards)

    def model() -> RewardResponse:
        return RewardResponse(
            rewards=[finite(r) for r in rewards], status=status, reasons=reasons, details=per_item, schedule=schedule
        )

    plain = (
        (usual or (kinds <= _PLAIN_REWARDS and math.isfinite(sum(filter(None, rewards)))))
        and set(map(type, status)) <= {str}
        and (per_item is None or set(map(type, per_item)) <= {dict})
        and (schedule is None or type(schedule) is dict)
    )
    if not plain:
        return model_response(model(), msgpack=msgpack)
    payload = {"rewards": rewards, "status": status, "reasons": reasons, "details": per_item, "schedule": schedule}
    return fast_response(payload, model, msgpack=msgpack)


def reasons_of(scores: Sequence[Score], rewards: Sequence[Any]) -> list[str | None]:
    """Per score, why its reward is null in the response (None, or a NaN or infinity `finite` turns
    into null): its details' reason, else its status. None where it has a reward."""
    try:  # the usual batch, checked without a Python loop over it
        usual = None not in rewards and math.isfinite(sum(rewards))
    except TypeError:  # a reward of no number type: the model refuses it, the loop does not mind
        usual = False
    if usual:
        return [None] * len(scores)
    return [_reason(s, r) if _abstains(r) else None for s, r in zip(scores, rewards, strict=True)]


def _abstains(reward: Any) -> bool:
    return reward is None or (isinstance(reward, float) and not math.isfinite(reward))


def _reason(score: Score, reward: Any) -> str:
    reason = score.details.get("reason")
    if reason is not None:
        return str(reason)
    # A NaN or infinity is a scorer's bug, whatever its status says: null, and named as such.
    return score.status if reward is None else "the scorer returned a non-finite reward"

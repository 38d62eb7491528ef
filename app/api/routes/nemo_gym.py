"""NeMo Gym resources servers: one base URL per profile, ``/nemo-gym/<profile>``.

A stock NeMo Gym agent calls ``POST /seed_session`` and then ``POST /verify`` at the resources
server's base URL, and the rollout collector calls ``POST /aggregate_metrics``; ``GET
/reverify_mode`` tells ``gym eval reverify`` whether a second verify is safe. A run is attached
through the base URL itself (``/nemo-gym/<profile>/runs/<run_id>``, optionally ``/group-size/<G>``),
since NeMo Gym appends the route names to the base URL and sends no query. ``POST
/verify/<profile>`` is the older shortcut, with ``?run_id=&step=&group_size=``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from app.adapters.common import (
    ensure_run,
    filled,
    make_item,
    object_fields,
    outcome_scores,
    overlaps,
    prompt_group,
)
from app.adapters.nemo_gym import (
    FAILURE_KIND,
    TASK_INDEX,
    AggregateMetrics,
    AggregateMetricsRequest,
    NemoVerifyRequest,
    NemoVerifyResponse,
    SeedSessionResponse,
    aggregate_metrics,
    completion_text,
)
from app.api.deps import AdapterServiceDep, AdapterTenantDep, Service
from app.api.responses import json_response
from app.api.routes.openrlhf import GroupSizeQuery, RunQuery, StepQuery
from app.api.routes.profiles import ProfileName
from app.limits import check_items
from app.schemas import RUN_ID
from app.scoring import score_profile

router = APIRouter(tags=["trainers"])

RunPath = Annotated[str, Path(pattern=RUN_ID, description="Report to this run (created on first use).")]
GroupSizePath = Annotated[int, Path(ge=1, le=1024, description="Rollouts per task (NeMo Gym's num_repeats).")]
# Keys the verify response sets; a row that carries them gets them replaced, not doubled.
_OWN_KEYS = frozenset(NemoVerifyResponse.model_fields) - frozenset(NemoVerifyRequest.model_fields)


def _verify(
    profile: str, body: NemoVerifyRequest, svc: Service, run_id: str | None, step: int | None, group_size: int | None
) -> Response:
    settings = svc.settings
    resolved = svc.profiles.resolved(svc.tenant, profile)
    row: dict[str, Any] = body.model_dump()
    fields = object_fields({k: v for k, v in row.items() if k not in ("responses_create_params", "response")})
    if "group" not in fields:
        task = row.get(TASK_INDEX)
        if isinstance(task, int) and not isinstance(task, bool):
            fields["group"] = f"task-{task}"
        else:
            fields["group"] = prompt_group(body.responses_create_params.get("input"))
    item = make_item(completion_text(body.response), fields, "body")
    check_items([item], settings, "response")
    run = ensure_run(svc.store, svc.tenant, run_id, resolved, step, group_size, svc.buffer)
    out = score_profile(resolved, [item], run, "body")
    fallback = settings.abstain_value
    total = filled(out.rewards, fallback)[0]
    abstained = out.rewards[0] is None
    components = {k: filled(v, fallback)[0] for k, v in out.components.items()}
    extras: dict[str, Any] = {"outcome": filled(outcome_scores(resolved, out), fallback)[0]}
    # Components also top-level (NeMo Gym's metrics do not descend into reward_components),
    # each with its abstention flag, so that every response has the same keys.
    for key, value in components.items():
        extras[f"reward_{key}"] = value
        extras[f"reward_{key}_abstained"] = out.components[key][0] is None
    for key, values in overlaps(resolved, out).items():
        extras[f"reward_{key}_overlap"] = filled(values, fallback)[0]
    if out.schedule is not None:
        extras["tau"] = float(out.schedule["tau"])
    echoed = {k: v for k, v in row.items() if k not in _OWN_KEYS and k not in extras}
    response = NemoVerifyResponse(
        **echoed,
        **extras,
        reward=total,
        reward_components=components,
        abstained=abstained,
        mask_sample=abstained,
        failure_kind=FAILURE_KIND if abstained else None,
        failure_reason=out.reasons[0],
    )
    return json_response(response)


@router.post("/verify/{profile}", response_model=NemoVerifyResponse)
def verify_shortcut(
    profile: ProfileName,
    body: NemoVerifyRequest,
    svc: AdapterServiceDep,
    run_id: RunQuery = None,
    step: StepQuery = None,
    group_size: GroupSizeQuery = None,
) -> Response:
    """Verify one NeMo Gym rollout with a profile (``?run_id=`` attaches a run)."""
    return _verify(profile, body, svc, run_id, step, group_size)


@router.post("/nemo-gym/{profile}/verify", response_model=NemoVerifyResponse)
def verify(profile: ProfileName, body: NemoVerifyRequest, svc: AdapterServiceDep) -> Response:
    """Verify one rollout: the request echoed with ``reward``, ``reward_components`` and the flags."""
    return _verify(profile, body, svc, None, None, None)


@router.post("/nemo-gym/{profile}/runs/{run_id}/verify", response_model=NemoVerifyResponse)
def verify_run(profile: ProfileName, run_id: RunPath, body: NemoVerifyRequest, svc: AdapterServiceDep) -> Response:
    """Verify one rollout and report its IoU to the run (each rollout its own group)."""
    return _verify(profile, body, svc, run_id, None, None)


@router.post("/nemo-gym/{profile}/runs/{run_id}/group-size/{group_size}/verify", response_model=NemoVerifyResponse)
def verify_run_grouped(
    profile: ProfileName, run_id: RunPath, group_size: GroupSizePath, body: NemoVerifyRequest, svc: AdapterServiceDep
) -> Response:
    """Verify one rollout; the run counts a task's group once its ``group_size`` rollouts arrived."""
    return _verify(profile, body, svc, run_id, None, group_size)


_SEED = "Seed a rollout's session: the service keeps no per-rollout state, so this only answers."


@router.post("/nemo-gym/{profile}/seed_session", response_model=SeedSessionResponse, description=_SEED)
@router.post("/nemo-gym/{profile}/runs/{run_id}/seed_session", response_model=SeedSessionResponse, description=_SEED)
@router.post(
    "/nemo-gym/{profile}/runs/{run_id}/group-size/{group_size}/seed_session",
    response_model=SeedSessionResponse,
    description=_SEED,
)
def seed_session(profile: ProfileName, body: dict[str, Any], svc: AdapterServiceDep) -> SeedSessionResponse:
    svc.profiles.resolved(svc.tenant, profile)  # 404 for an unknown profile at the first call, not at verify
    session = body.get("resources_session_id")
    return SeedSessionResponse(resources_session_id=session) if isinstance(session, str) else SeedSessionResponse()


_AGGREGATE = "Statistics of verify responses per task and overall (mean/max/min/median/std), and the dead-group rate."


@router.post("/nemo-gym/{profile}/aggregate_metrics", response_model=AggregateMetrics, description=_AGGREGATE)
@router.post(
    "/nemo-gym/{profile}/runs/{run_id}/aggregate_metrics", response_model=AggregateMetrics, description=_AGGREGATE
)
@router.post(
    "/nemo-gym/{profile}/runs/{run_id}/group-size/{group_size}/aggregate_metrics",
    response_model=AggregateMetrics,
    description=_AGGREGATE,
)
def aggregate(profile: ProfileName, body: AggregateMetricsRequest, _: AdapterTenantDep) -> AggregateMetrics:
    return aggregate_metrics(body.verify_responses)


@router.get("/nemo-gym/{profile}/reverify_mode", response_model=str)
def reverify_mode(profile: ProfileName, _: AdapterTenantDep) -> str:
    """``stateless``: verifying a rollout again gives the same reward and changes nothing."""
    return "stateless"


@router.get("/nemo-gym/{profile}/runs/{run_id}/reverify_mode", response_model=str)
@router.get("/nemo-gym/{profile}/runs/{run_id}/group-size/{group_size}/reverify_mode", response_model=str)
def reverify_mode_run(profile: ProfileName, _: AdapterTenantDep) -> str:
    """``unsupported``: with a run attached a second verify would count the rollout's group again."""
    return "unsupported"

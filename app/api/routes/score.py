"""Composite scoring by profile."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api.deps import ServiceDep
from app.api.media import msgpack_alternative
from app.api.responses import model_response
from app.api.routes.rewards import finite
from app.limits import check_items
from app.profile_checks import check_profile
from app.profiles import resolve
from app.schemas import ScoreRequest, ScoreResponse
from app.scoring import open_run, profile_scheduler, score_profile

router = APIRouter(prefix="/v1/score", tags=["score"])


@router.post("", response_model=ScoreResponse, responses=msgpack_alternative("ScoreResponse"))
def score(
    body: ScoreRequest,
    svc: ServiceDep,
) -> Response:
    """Score a batch with a profile: the weighted total and every component (null = abstained)."""
    tenant, settings, store, profiles, buffer = svc.tenant, svc.settings, svc.store, svc.profiles, svc.buffer
    check_items(body.items, settings)
    if isinstance(body.profile, str):
        resolved = profiles.resolved(tenant, body.profile)
    else:
        check_profile(body.profile, "profile")
        resolved = resolve("inline", body.profile, judges=profiles.judges)
    run = None
    if body.run_id:
        sched = profile_scheduler(resolved)
        run = open_run(store, tenant, body.run_id, sched, body.step, body.request_id, body.group_size, buffer)
    out = score_profile(resolved, body.items, run)
    response = ScoreResponse(
        rewards=[finite(r) for r in out.rewards],
        components={k: [finite(r) for r in v] for k, v in out.components.items()},
        weights=out.weights,
        status=out.status,
        reasons=out.reasons,
        details=out.details if body.details else None,
        schedule=out.schedule,
    )
    return model_response(response, msgpack=svc.msgpack)

"""NeMo Gym resources server: ``POST /verify/<profile>`` (the body echoed, plus ``reward``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from app.adapters.common import ensure_run, make_item, object_fields, prompt_group
from app.adapters.nemo_gym import NemoVerifyRequest, NemoVerifyResponse, output_text
from app.api.deps import AdapterServiceDep
from app.api.responses import json_response
from app.api.routes.openrlhf import GroupSizeQuery, RunQuery, StepQuery
from app.api.routes.profiles import ProfileName
from app.api.routes.rewards import finite
from app.limits import check_items
from app.scoring import score_profile

router = APIRouter(tags=["trainers"])


@router.post("/verify/{profile}", response_model=NemoVerifyResponse)
def verify(
    profile: ProfileName,
    body: NemoVerifyRequest,
    svc: AdapterServiceDep,
    run_id: RunQuery = None,
    step: StepQuery = None,
    group_size: GroupSizeQuery = None,
) -> Response:
    """Verify one NeMo Gym rollout with a profile: the request echoed with ``reward`` and ``reward_components``."""
    tenant, settings, store, profiles, buffer = svc.tenant, svc.settings, svc.store, svc.profiles, svc.buffer
    resolved = profiles.resolved(tenant, profile)
    row: dict[str, Any] = body.model_dump()
    fields = object_fields({k: v for k, v in row.items() if k not in ("responses_create_params", "response")})
    if "group" not in fields:
        fields["group"] = prompt_group(body.responses_create_params.get("input"))
    item = make_item(output_text(body.response), fields, "body")
    check_items([item], settings, "response")
    run = ensure_run(store, tenant, run_id, resolved, step, group_size, buffer)
    out = score_profile(resolved, [item], run)
    total = finite(out.rewards[0])
    components = {k: r for k, v in out.components.items() if (r := finite(v[0])) is not None}
    extras: dict[str, Any] = {"abstained": total is None}
    if out.schedule is not None:
        extras["tau"] = float(out.schedule["tau"])
    response = NemoVerifyResponse(
        **{**row, **extras},
        reward=settings.abstain_value if total is None else total,
        reward_components=components,
    )
    return json_response(response)

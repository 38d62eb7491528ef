"""slime ``--rm-type remote_rm --rm-url http://host:8000/slime/<profile>``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.adapters.common import (
    ensure_run,
    label_fields,
    make_item,
    object_fields,
    outcome_scores,
    overlaps,
    prompt_group,
)
from app.adapters.slime import SlimeRequest, SlimeResult
from app.api.deps import AdapterServiceDep
from app.api.routes.openrlhf import GroupSizeQuery, RunQuery, StepQuery
from app.api.routes.profiles import ProfileName
from app.api.routes.rewards import finite
from app.limits import check_items
from app.scoring import score_profile

router = APIRouter(tags=["trainers"])


@router.post("/slime/{profile}", response_model=SlimeResult | float)
def slime(
    profile: ProfileName,
    body: SlimeRequest,
    svc: AdapterServiceDep,
    run_id: RunQuery = None,
    step: StepQuery = None,
    group_size: GroupSizeQuery = None,
    output: Annotated[Literal["dict", "number"], Query(description="`number`: reply with a bare number.")] = "dict",
) -> SlimeResult | float:
    """Score one slime sample; a dict (``--reward-key score``) or, with ``?output=number``, a number."""
    tenant, settings, store, profiles, buffer = svc.tenant, svc.settings, svc.store, svc.profiles, svc.buffer
    resolved = profiles.resolved(tenant, profile)
    fields = object_fields(body.metadata) if body.metadata else {}
    fields.update(label_fields(body.label))
    if "group" not in fields and body.prompt is not None:
        fields["group"] = prompt_group(body.prompt)
    item = make_item(body.response, fields, "label")
    check_items([item], settings, "response")
    run = ensure_run(store, tenant, run_id, resolved, step, group_size, buffer)
    out = score_profile(resolved, [item], run, "label")
    total = finite(out.rewards[0])
    value = settings.abstain_value if total is None else total
    if output == "number":
        return value
    return SlimeResult(
        score=value,
        reward=total,
        abstained=total is None,
        reason=out.reasons[0],
        outcome=finite(outcome_scores(resolved, out)[0]),
        components={k: finite(v[0]) for k, v in out.components.items()},
        overlaps={k: v[0] for k, v in overlaps(resolved, out).items()},
        tau=float(out.schedule["tau"]) if out.schedule else None,
    )

"""OpenRLHF ``--reward.remote_url http://host:8000/openrlhf/<profile>``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.adapters.common import ensure_run, filled, label_fields, make_item, outcome_scores, overlaps, prompt_group
from app.adapters.openrlhf import OpenRLHFRequest, OpenRLHFResponse, response_from_query
from app.api.deps import AdapterServiceDep
from app.api.errors import ApiError
from app.api.responses import json_response
from app.api.routes.profiles import ProfileName
from app.limits import check_items
from app.schemas import RUN_ID
from app.scoring import score_profile

router = APIRouter(tags=["trainers"])

RunQuery = Annotated[
    str | None, Query(pattern=RUN_ID, description="Report to this run (created from the profile's scheduler).")
]
StepQuery = Annotated[int | None, Query(ge=0, le=10**12, description="Trainer step.")]
GroupSizeQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=1024,
        description="Completions per prompt (n_samples_per_prompt): report each prompt's group to the run once "
        "all of them arrived.",
    ),
]


@router.post("/openrlhf/{profile}", response_model=OpenRLHFResponse)
def openrlhf(
    profile: ProfileName,
    body: OpenRLHFRequest,
    svc: AdapterServiceDep,
    run_id: RunQuery = None,
    step: StepQuery = None,
    group_size: GroupSizeQuery = None,
) -> Response:
    """Score OpenRLHF's ``{query, prompts, labels}`` with a profile (empty lists → empty lists)."""
    tenant, settings, store, profiles, buffer = svc.tenant, svc.settings, svc.store, svc.profiles, svc.buffer
    n = len(body.query)
    for name, values in (("prompts", body.prompts), ("labels", body.labels)):
        if values and len(values) != n:
            raise ApiError(422, "length_mismatch", f"{len(values)} {name} for {n} queries", name)
    resolved = profiles.resolved(tenant, profile)
    if n > settings.max_items:
        raise ApiError(413, "too_many_items", f"{n} queries; at most {settings.max_items} per request", "query")
    items = []
    for i, query in enumerate(body.query):
        if len(query) > settings.max_query_chars:
            raise ApiError(
                413,
                "query_too_long",
                f"{len(query)} characters; at most {settings.max_query_chars} per query (MEDREWARD_MAX_QUERY_CHARS)",
                f"query[{i}]",
            )
        # The character limit applies to the response cut out below, not to the query: a VLM
        # query carries the prompt with every image token expanded (thousands of pads).
        prompt = body.prompts[i] if body.prompts else None
        fields = label_fields(body.labels[i] if body.labels else None)
        if "group" not in fields and prompt is not None:
            fields["group"] = prompt_group(prompt)
        items.append(make_item(response_from_query(query, prompt), fields, f"labels[{i}]"))
    check_items(items, settings, "query")
    run = ensure_run(store, tenant, run_id, resolved, step, group_size, buffer) if n else None
    out = score_profile(resolved, items, run, "labels[{i}]")
    fallback = settings.abstain_value
    extra: dict[str, list[float]] = {}
    for key, values in out.components.items():
        extra[key] = filled(values, fallback)
        extra[f"{key}_abstained"] = [1.0 if v is None else 0.0 for v in values]
    for key, values in overlaps(resolved, out).items():
        extra[f"{key}_overlap"] = filled(values, fallback)
    extra["abstained"] = [1.0 if r is None else 0.0 for r in out.rewards]
    if out.schedule is not None:
        extra["tau"] = [float(out.schedule["tau"])] * n
    scores = [min(1.0, max(0.0, r)) for r in filled(outcome_scores(resolved, out), fallback)]
    return json_response(OpenRLHFResponse(rewards=filled(out.rewards, fallback), scores=scores, extra_logs=extra))

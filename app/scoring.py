"""The scoring core every route and adapter calls: one reward, or a profile's composite.

Called from sync routes (FastAPI's threadpool), so it may block; it never runs on the event loop.
With a run, the ``iou`` reward is computed as continuous IoU and handed to the run's scheduler,
which scores each group with the τ in force when it arrives (MedLoc-R1) and returns the rewards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from app import metrics
from app.api.errors import ApiError, validation_error
from app.grouping import GroupBuffer
from app.profiles import ResolvedProfile
from schedulers.base import GroupReport, RunStore
from schedulers.registry import make_scheduler
from scorers import Item, Score, get_reward, score

# The reward whose raw values the schedulers threshold.
SCHEDULED_REWARD = "iou"


@dataclass(frozen=True)
class RunRef:
    """Where a scoring call reports: the tenant's run, the trainer's step and an idempotency key."""

    store: RunStore
    tenant: str
    run_id: str
    step: int | None = None
    request_id: str | None = None
    group_size: int | None = None
    """Per-sample traffic: hold each group's IoUs until this many arrived (see `app.grouping`)."""
    buffer: GroupBuffer | None = None


@dataclass
class Composite:
    rewards: list[float | None]
    components: dict[str, list[float | None]]
    status: list[str]
    details: list[dict[str, Any]]
    schedule: dict[str, Any] | None = None
    weights: dict[str, float] = field(default_factory=dict)


def build_params(reward: str, params: dict[str, Any] | BaseModel, field_name: str = "params") -> BaseModel:
    """Validate params against the reward's model; 422 naming the field."""
    spec = get_reward(reward)
    if isinstance(params, spec.params):
        return params
    raw = params.model_dump() if isinstance(params, BaseModel) else params
    try:
        return spec.params.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, field_name) from None


def timed_score(reward: str, items: Sequence[Item], params: BaseModel) -> list[Score]:
    start = time.perf_counter()
    out = score(reward, items, params)
    metrics.observe_scores(reward, out, time.perf_counter() - start)
    return out


def score_one_reward(
    reward: str, items: Sequence[Item], params: BaseModel, run: RunRef | None
) -> tuple[list[Score], dict[str, Any] | None]:
    """Score with one reward; with a run (iou only), the scheduler turns IoUs into rewards."""
    if run is None:
        return timed_score(reward, items, params), None
    if reward != SCHEDULED_REWARD:
        raise ApiError(422, "not_scheduled", f"run_id applies to the {SCHEDULED_REWARD!r} reward only", "run_id")
    if run.group_size is not None and run.buffer is not None:
        return _buffered_iou(items, params, run, run.buffer, run.group_size)
    return _scheduled_iou(items, params, run)


def _raw_ious(items: Sequence[Item], params: BaseModel) -> tuple[list[Score], list[float | None]]:
    # The scheduler thresholds raw IoUs itself, so the scorer must return them unthresholded.
    continuous = params.model_copy(update={"mode": "continuous"}) if "mode" in type(params).model_fields else params
    raw = timed_score(SCHEDULED_REWARD, items, continuous)
    ious: list[float | None] = []
    for s in raw:
        if s.reward is None:
            ious.append(None)
        else:
            value = s.details.get("iou", s.reward)
            ious.append(float(value) if isinstance(value, int | float) else s.reward)
    return raw, ious


def _scheduled_iou(items: Sequence[Item], params: BaseModel, run: RunRef) -> tuple[list[Score], dict[str, Any]]:
    raw, ious = _raw_ious(items, params)
    # Items without a group are each their own group (a per-sample trainer that sends no group
    # still gets a schedule); the key derives from request_id so that a retry replays.
    prefix = run.request_id or uuid.uuid4().hex
    order: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        key = str(item.group) if item.group is not None else f"{prefix}#{i}"
        order.setdefault(key, []).append(i)
    reports = [GroupReport(group=g, ious=[ious[i] for i in idx]) for g, idx in order.items()]
    result = run.store.report(run.tenant, run.run_id, reports, step=run.step, request_id=run.request_id)
    scores: list[Score] = list(raw)
    group_tau: dict[str, float] = {}
    for gres in result.groups:
        group_tau[gres.group] = gres.tau
        for i, r in zip(order.get(gres.group, []), gres.rewards, strict=False):
            base = raw[i]
            details = {**base.details, "iou": ious[i], "tau": gres.tau}
            scores[i] = Score(r, base.status if r is None else "ok", details)
    state = result.run
    tau = float(state.get("tau", 0.0))
    metrics.RUN_TAU.labels(tenant=run.tenant, run_id=run.run_id).set(tau)
    if not result.replayed:
        metrics.GROUPS.labels(tenant=run.tenant).inc(len(reports))
    schedule = {
        "run_id": run.run_id,
        "scheduler": state.get("scheduler"),
        "tau": tau,
        "step": state.get("step"),
        "groups": state.get("groups"),
        "raised": any(g.raised for g in result.groups),
        "replayed": result.replayed,
        "group_tau": group_tau,
    }
    return scores, schedule


def _buffered_iou(
    items: Sequence[Item], params: BaseModel, run: RunRef, buffer: GroupBuffer, size: int
) -> tuple[list[Score], dict[str, Any]]:
    raw, ious = _raw_ious(items, params)
    order: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        order.setdefault(str(item.group) if item.group is not None else f"{uuid.uuid4().hex}#{i}", []).append(i)
    # The run store holds each group until it is whole, for every worker and replica (app.grouping).
    added = [
        (
            group,
            buffer.add(
                run.store, (run.tenant, run.run_id, group), [ious[i] for i in idx], size, run.step, run.request_id
            ),
        )
        for group, idx in order.items()
    ]
    if not added:
        state = run.store.get_run(run.tenant, run.run_id)
        arrival, pending, closed = state, run.store.pending_groups(run.tenant, run.run_id), []
    else:
        arrival, state, pending = added[0][1].arrival, added[-1][1].run, added[-1][1].pending
        closed = [c for _, res in added for c in res.closed]
    # Scored now with the τ the run's scheduler would use for this step (the group is counted later).
    sched = make_scheduler(str(arrival["scheduler"]), arrival.get("config"))
    sched.tau = float(arrival["tau"])
    tau = sched.tau_for_step(run.step if run.step is not None else int(arrival.get("step") or 0))
    scores = [
        base if iou is None else Score(sched.reward(iou, tau), "ok", {**base.details, "iou": iou, "tau": tau})
        for base, iou in zip(raw, ious, strict=True)
    ]
    metrics.RUN_TAU.labels(tenant=run.tenant, run_id=run.run_id).set(float(state["tau"]))
    schedule = {
        "run_id": run.run_id,
        "scheduler": state.get("scheduler"),
        "tau": float(state["tau"]),
        "step": state.get("step"),
        "groups": state.get("groups"),
        "raised": any(c.result.raised for c in closed),
        "replayed": bool(added) and all(res.duplicate for _, res in added),
        "group_tau": dict.fromkeys(order, tau),
        "group_size": size,
        "reported": [c.group for c in closed],
        "pending": pending,
    }
    return scores, schedule


def apply_answer_kind(items: Sequence[Item], kind: str | None) -> list[Item]:
    """The profile's answer kind for items that set none."""
    if kind is None:
        return list(items)
    return [it if it.kind is not None else it.model_copy(update={"kind": kind}) for it in items]


def score_profile(profile: ResolvedProfile, items: Sequence[Item], run: RunRef | None) -> Composite:
    """Every component, then ``total = Σ wᵢ·rᵢ / Σ wᵢ`` over the components that did not abstain."""
    batch = apply_answer_kind(items, profile.profile.answer_kind)
    if run is not None and not any(c.reward == SCHEDULED_REWARD for c in profile.components):
        raise ApiError(
            422,
            "not_scheduled",
            f"profile {profile.name!r} has no {SCHEDULED_REWARD!r} component to schedule",
            "run_id",
        )
    components: dict[str, list[float | None]] = {}
    per_item: list[dict[str, Any]] = [{} for _ in batch]
    statuses: list[list[str]] = [[] for _ in batch]
    schedule: dict[str, Any] | None = None
    # Only the first iou component reports to the run: a group must be counted once.
    scheduled = next((c.key for c in profile.components if c.reward == SCHEDULED_REWARD), None)
    for comp in profile.components:
        use_run = run if comp.key == scheduled else None
        scores, sched = score_one_reward(comp.reward, batch, comp.params, use_run) if batch else ([], None)
        schedule = schedule or sched
        components[comp.key] = [s.reward for s in scores]
        for i, s in enumerate(scores):
            per_item[i][comp.key] = {"status": s.status, **s.details}
            statuses[i].append(s.status)
    totals: list[float | None] = []
    status: list[str] = []
    for i in range(len(batch)):
        num = den = 0.0
        for comp in profile.components:
            r = components[comp.key][i]
            if r is not None and comp.weight > 0:
                num += comp.weight * r
                den += comp.weight
        if den > 0:
            totals.append(num / den)
            status.append("ok")
        else:
            totals.append(None)
            status.append("error" if "error" in statuses[i] else "unscorable")
    weights = {c.key: c.weight for c in profile.components}
    return Composite(totals, components, status, per_item, schedule, weights)

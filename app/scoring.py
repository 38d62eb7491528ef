"""The scoring core every route and adapter calls: one reward, or a profile's composite.

Called from sync routes (FastAPI's threadpool), so it may block; it never runs on the event loop.
With a run, the ``iou`` reward is computed as continuous IoU and handed to the run's scheduler,
which scores each group with the τ in force when it arrives (MedLoc-R1) and returns the rewards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app import metrics
from app.api.errors import ApiError, validation_error
from app.grouping import GroupBuffer
from app.ids import new_id
from app.insight.recorder import ScoredBatch, record
from app.profiles import ResolvedComponent, ResolvedProfile
from schedulers.base import BufferResult, GroupReport, RunExistsError, RunNotFoundError, RunStore
from schedulers.registry import make_scheduler
from scorers import Item, Score, get_reward, score
from scorers.item_records import with_fields
from scorers.types import none_abstained

# The reward whose raw values the schedulers threshold.
SCHEDULED_REWARD = "iou"
# A run created on first use without a profile scheduler (a bare `iou` call) gets MedLoc-R1's.
DEFAULT_SCHEDULER = "medloc"


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
    scheduler: tuple[str, dict[str, Any]] | None = None
    """The scheduler (name, config) the run is created with on first use; None: MedLoc-R1's defaults."""


def open_run(
    store: RunStore,
    tenant: str,
    run_id: str,
    scheduler: tuple[str, dict[str, Any]] | None,
    step: int | None = None,
    request_id: str | None = None,
    group_size: int | None = None,
    buffer: GroupBuffer | None = None,
) -> RunRef:
    """The run to report to, created on first use (by `on_run`, when the store first finds it missing).

    Trainers call the scoring routes with a ``run_id`` from their first step on and have no
    reason to call ``POST /v1/runs`` first, so an unknown run is created with the profile's
    scheduler (``scheduler``: its name and config), or MedLoc-R1's defaults. Nothing is read
    here: checking that the run exists before each report was a second read of the run per
    request (0.67 ms on SQLite, a third of a per-sample request's server time), while every store
    operation on a run finds out anyway, and refuses with `RunNotFoundError` before changing
    anything.
    """
    return RunRef(store, tenant, run_id, step, request_id, group_size, buffer, scheduler)


T = TypeVar("T")


def on_run(run: RunRef, op: Callable[[], T]) -> T:
    """``op()``, a store operation on ``run``; when the run does not exist yet, it is created and ``op`` retried.

    Every store checks the run before it changes anything (report, add_samples, get_run), so
    the first attempt left nothing behind.
    """
    try:
        return op()
    except RunNotFoundError:
        name, config = run.scheduler or (DEFAULT_SCHEDULER, {})
        try:
            run.store.create_run(run.tenant, run.run_id, name, dict(config))
        except RunExistsError:
            pass  # another request created it first
        return op()


@dataclass
class Composite:
    rewards: list[float | None]
    components: dict[str, list[float | None]]
    status: list[str]
    details: list[dict[str, Any]]
    schedule: dict[str, Any] | None = None
    weights: dict[str, float] = field(default_factory=dict)
    reasons: list[str | None] = field(default_factory=list)
    """Per item, why its total is None (None where it has one)."""


def build_params(reward: str, params: dict[str, Any] | BaseModel, field_name: str = "params") -> BaseModel:
    """Validate params against the reward's model; 422 naming the field."""
    spec = get_reward(reward)
    if isinstance(params, spec.params):
        return params
    raw = params.model_dump() if isinstance(params, BaseModel) else params
    if not raw and spec.defaults is not None:  # most requests: the defaults, validated at registration
        return spec.defaults
    try:
        return spec.params.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, field_name) from None


def timed_score(reward: str, items: Sequence[Item], params: BaseModel, item_field: str = "items[{i}]") -> list[Score]:
    """Score and record the metrics; 422 when an item's own data is malformed (see `refuse_invalid`)."""
    start = time.perf_counter()
    out = score(reward, items, params)
    complete = none_abstained(out)  # the usual batch: then neither needs to look at each score
    metrics.observe_scores(reward, out, time.perf_counter() - start, complete)
    if not complete:
        refuse_invalid(out, item_field)
    return out


def refuse_invalid(scores: Sequence[Score], item_field: str = "items[{i}]") -> None:
    """422 naming the field when a scorer found the caller's data malformed (`Score.invalid`).

    A reference box with no area, an ordinal reference off the scale or options that do not
    hold the reference are the dataset's bug: answered as an abstention, a composite would
    quietly fall back to the other components and the trainer would never see it.
    ``item_field`` says where item ``i`` sits in the request (adapters pass their own).
    """
    if none_abstained(scores):
        return
    for i, s in enumerate(scores):
        if s.reward is None and "invalid" in s.details:
            where = f"{item_field.format(i=i)}.{s.details['invalid']}"
            raise ApiError(422, "invalid_item", f"{where}: {s.details.get('reason', 'malformed')}", where)


def score_one_reward(
    reward: str, items: Sequence[Item], params: BaseModel, run: RunRef | None, item_field: str = "items[{i}]"
) -> tuple[list[Score], dict[str, Any] | None]:
    """Score with one reward; with a run (iou only), the scheduler turns IoUs into rewards."""
    if run is None:
        return timed_score(reward, items, params, item_field), None
    if reward != SCHEDULED_REWARD:
        raise ApiError(422, "not_scheduled", f"run_id applies to the {SCHEDULED_REWARD!r} reward only", "run_id")
    if run.group_size is not None and run.buffer is not None:
        return _buffered_iou(items, params, run, run.buffer, run.group_size, item_field)
    return _scheduled_iou(items, params, run, item_field)


def _raw_ious(
    items: Sequence[Item], params: BaseModel, item_field: str = "items[{i}]"
) -> tuple[list[Score], list[float | None]]:
    # The scheduler thresholds raw IoUs itself, so the scorer must return them unthresholded.
    continuous = params.model_copy(update={"mode": "continuous"}) if "mode" in type(params).model_fields else params
    raw = timed_score(SCHEDULED_REWARD, items, continuous, item_field)
    ious: list[float | None] = []
    for s in raw:
        if s.reward is None:
            ious.append(None)
        else:
            value = s.details.get("iou", s.reward)
            ious.append(float(value) if isinstance(value, int | float) else s.reward)
    return raw, ious


def _scheduled_iou(
    items: Sequence[Item], params: BaseModel, run: RunRef, item_field: str = "items[{i}]"
) -> tuple[list[Score], dict[str, Any]]:
    raw, ious = _raw_ious(items, params, item_field)
    # Items without a group are each their own group (a per-sample trainer that sends no group
    # still gets a schedule); the key derives from request_id so that a retry replays.
    prefix = run.request_id or new_id()
    order: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        key = str(item.group) if item.group is not None else f"{prefix}#{i}"
        order.setdefault(key, []).append(i)
    reports = [GroupReport(group=g, ious=[ious[i] for i in idx]) for g, idx in order.items()]
    result = on_run(
        run, lambda: run.store.report(run.tenant, run.run_id, reports, step=run.step, request_id=run.request_id)
    )
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
    items: Sequence[Item],
    params: BaseModel,
    run: RunRef,
    buffer: GroupBuffer,
    size: int,
    item_field: str = "items[{i}]",
) -> tuple[list[Score], dict[str, Any]]:
    raw, ious = _raw_ious(items, params, item_field)
    order: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        order.setdefault(str(item.group) if item.group is not None else f"{new_id()}#{i}", []).append(i)
    # The run store holds each group until it is whole, for every worker and replica (app.grouping).

    def add(group: str, idx: list[int]) -> BufferResult:
        key = (run.tenant, run.run_id, group)
        return buffer.add(run.store, key, [ious[i] for i in idx], size, run.step, run.request_id)

    added = [(group, on_run(run, partial(add, group, idx))) for group, idx in order.items()]
    if not added:
        state = on_run(run, lambda: run.store.get_run(run.tenant, run.run_id))
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


def profile_scheduler(profile: ResolvedProfile) -> tuple[str, dict[str, Any]] | None:
    """The scheduler (name, config) a run created for this profile gets; None: the default."""
    spec = profile.profile.scheduler
    return None if spec is None else (spec.type, dict(spec.config))


def apply_answer_kind(items: Sequence[Item], kind: str | None) -> list[Item]:
    """The profile's answer kind for items that set none."""
    if kind is None:
        return list(items)
    return [it if it.kind is not None else with_fields(it, kind=kind) for it in items]


def score_profile(
    profile: ResolvedProfile, items: Sequence[Item], run: RunRef | None, item_field: str = "items[{i}]"
) -> Composite:
    """Every component, then ``total = Σ wᵢ·rᵢ / Σ wᵢ`` over the components that did not abstain.

    The total is ``None`` (with the reason) when a required (outcome) component abstains: a
    well-formatted answer to an item without a label must not earn the shaping terms as its
    reward. A malformed reference is a 422 (`refuse_invalid`), never an abstention.
    """
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
        scores, sched = score_one_reward(comp.reward, batch, comp.params, use_run, item_field) if batch else ([], None)
        schedule = schedule or sched
        components[comp.key] = [s.reward for s in scores]
        for i, s in enumerate(scores):
            per_item[i][comp.key] = {"status": s.status, **s.details}
            statuses[i].append(s.status)
    totals: list[float | None] = []
    status: list[str] = []
    reasons: list[str | None] = []
    for i in range(len(batch)):
        total, reason = combine(profile, components, per_item[i], i)
        totals.append(total)
        reasons.append(reason)
        if total is not None:
            status.append("ok")
        else:
            status.append("error" if "error" in statuses[i] else "unscorable")
    weights = {c.key: c.weight for c in profile.components}
    if run is not None:  # run insight: dead and phantom groups per step (app.insight)
        groups = [None if it.group is None else str(it.group) for it in batch]
        outcome = frozenset(c.key for c in profile.components if c.required)
        seen = ScoredBatch(groups, totals, components, outcome)
        record(run.store, run.tenant, run.run_id, seen, schedule, step=run.step, group_size=run.group_size)
    return Composite(totals, components, status, per_item, schedule, weights, reasons)


def record_reward(run: RunRef, reward: str, items: Sequence[Item], scores: Sequence[Score], schedule: Any) -> None:
    """Run insight for a one-reward call with a run (``POST /v1/rewards/iou``): the reward is the outcome."""
    groups = [None if it.group is None else str(it.group) for it in items]
    rewards = [s.reward for s in scores]
    seen = ScoredBatch(groups, rewards, {reward: rewards}, frozenset({reward}))
    record(run.store, run.tenant, run.run_id, seen, schedule, step=run.step, group_size=run.group_size)


def combine(
    profile: ResolvedProfile, components: dict[str, list[float | None]], details: dict[str, Any], i: int
) -> tuple[float | None, str | None]:
    """Item ``i``'s total and, when it has none, why: a required component abstained, or all did."""
    for comp in profile.components:
        if comp.required and components[comp.key][i] is None:
            why = details.get(comp.key, {}).get("reason", "abstained")
            return None, f"required component {comp.key!r} abstained: {why}"
    total = weighted_mean(profile.components, components, i)
    return (None, "every weighted component abstained") if total is None else (total, None)


def weighted_mean(
    comps: Iterable[ResolvedComponent], components: dict[str, list[float | None]], i: int
) -> float | None:
    """``Σ wᵢ·rᵢ / Σ wᵢ`` over those of ``comps`` that scored item ``i`` with a weight; None if none did."""
    num = den = 0.0
    for comp in comps:
        r = components[comp.key][i]
        if r is not None and comp.weight > 0:
            num += comp.weight * r
            den += comp.weight
    return num / den if den > 0 else None

"""What one scoring call with a ``run_id`` adds to the run's insight, kept in the run store.

Two kinds of documents per run, both merged atomically (`RunStore.merge_doc`), so any number of
workers and replicas feed them without losing an update:

- ``insight-steps:<run>``, one per training step (name: the zero-padded step): the additive
  counters of `app.insight.stats` plus the τ and MedLoc-R1 window seen last in that step. Only
  the newest ``MEDREWARD_INSIGHT_STEPS`` steps are kept: when a step's document is created, the
  oldest beyond the bound are deleted.
- ``insight-open:<run>``, per-sample traffic only (``group_size`` set): one per open GRPO group,
  the mergeable summary of its samples so far (count, range of totals, range of each outcome
  component). The call whose samples make the count reach ``group_size`` judges the group
  (dead, phantom or live) and adds it to the step of its first sample. A group still short of
  samples ``MEDREWARD_INSIGHT_GROUP_TTL_S`` after its last one, or two steps behind the run, is
  judged with the samples it has when the run's next step starts.

Batch traffic (TRL: one request per rank per step) needs no buffer: the items of one request
with the same ``group`` are a group. Items with no ``group`` are groups of one (counted as
``small_groups``, never dead). A retried request (its ``request_id`` replayed) adds nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.insight import gauges
from app.insight.settings import InsightSettings, get_insight_settings
from app.insight.stats import (
    GroupSummary,
    dead_group_warning,
    group_counters,
    item_counters,
    step_summary,
    summarise_group,
)
from schedulers.base import GroupPolicy, RunStore
from schedulers.stores.doc_merge import DocMerge

log = logging.getLogger("app.insight")

# A per-sample group this many steps behind the run is judged as it is: the group buffer's own
# default lag (two tolerates the one step of overlap of asynchronous rollouts).
STALE_STEP_LAG = GroupPolicy().step_lag


def steps_kind(run_id: str) -> str:
    return f"insight-steps:{run_id}"


def open_kind(run_id: str) -> str:
    return f"insight-open:{run_id}"


def step_name(step: int) -> str:
    # Zero-padded to the largest step the API accepts (10**12), so that names sort by step.
    return f"{step:013d}"


@dataclass(frozen=True)
class ScoredBatch:
    """What a scoring call saw: per item its group and total, per component its rewards."""

    groups: Sequence[str | None]
    totals: Sequence[float | None]
    components: Mapping[str, Sequence[float | None]]
    outcome: frozenset[str]
    """The profile's outcome (required) components."""


def record(
    store: RunStore,
    tenant: str,
    run_id: str,
    batch: ScoredBatch,
    schedule: Mapping[str, Any] | None,
    *,
    step: int | None,
    group_size: int | None,
    settings: InsightSettings | None = None,
) -> None:
    """Add one scored batch to the run's statistics; never raises (scoring must not fail for it)."""
    settings = settings or get_insight_settings()
    if not settings.insight or schedule is None or schedule.get("replayed") or not batch.totals:
        return
    try:
        _record(store, tenant, run_id, batch, schedule, step, group_size, settings)
    except Exception as exc:  # the reward was computed; losing a statistic must not lose it
        log.warning("run insight not recorded: %s", exc, extra={"tenant": tenant, "run_id": run_id})


def _record(
    store: RunStore,
    tenant: str,
    run_id: str,
    batch: ScoredBatch,
    schedule: Mapping[str, Any],
    step: int | None,
    group_size: int | None,
    settings: InsightSettings,
) -> None:
    now = time.time()
    at_step = step if step is not None else int(schedule.get("step") or 0)
    counters = item_counters(batch.totals, batch.components)
    closed: list[tuple[int, GroupSummary]] = []
    order: dict[str | None, list[int]] = {}
    for i, g in enumerate(batch.groups):
        order.setdefault(g, []).append(i)
    for g, idx in order.items():
        if g is None:  # no group: each item is a group of one
            closed.extend((at_step, GroupSummary(1 if batch.totals[i] is not None else 0)) for i in idx)
        elif group_size is None:
            closed.append((at_step, _summary(batch, idx)))
        else:
            whole = _feed_open_group(
                store, tenant, run_id, g, _summary(batch, idx), len(idx), group_size, at_step, now
            )
            if whole is not None:
                closed.append(whole)
    same_step = [s for st, s in closed if st == at_step]
    run = store.get_run(tenant, run_id)
    keep = {"tau": run.get("tau"), "window": run.get("window"), "updated_at": now}
    doc, created = store.merge_doc(
        tenant,
        steps_kind(run_id),
        step_name(at_step),
        DocMerge(add={**counters, **group_counters(same_step)}, keep=keep),
    )
    for st, summary in closed:
        if st != at_step:  # a per-sample group whose first sample came in an earlier step
            store.merge_doc(tenant, steps_kind(run_id), step_name(st), DocMerge(add=group_counters([summary])))
    gauges.observe(tenant, run_id, step_summary(at_step, doc))
    if created:
        _new_step(store, tenant, run_id, at_step, group_size, settings, now)


def _summary(batch: ScoredBatch, idx: Sequence[int]) -> GroupSummary:
    totals = [batch.totals[i] for i in idx]
    outcomes = {k: [v[i] for i in idx] for k, v in batch.components.items() if k in batch.outcome}
    return summarise_group(totals, outcomes)


def _open_merge(summary: GroupSummary, items: int, step: int, now: float) -> DocMerge:
    low: dict[str, float] = {"step": step}
    high: dict[str, float] = {"at": now}
    if summary.total_lo is not None and summary.total_hi is not None:
        low["t|lo"], high["t|hi"] = summary.total_lo, summary.total_hi
    for key, value in summary.outcome_lo.items():
        low[f"o|{key}|lo"] = value
    for key, value in summary.outcome_hi.items():
        high[f"o|{key}|hi"] = value
    return DocMerge(add={"n": items, "scored": summary.scored}, low=low, high=high)


def _from_open(doc: Mapping[str, Any]) -> GroupSummary:
    lo = {k[2:-3]: float(v) for k, v in doc.items() if k.startswith("o|") and k.endswith("|lo")}
    hi = {k[2:-3]: float(v) for k, v in doc.items() if k.startswith("o|") and k.endswith("|hi")}
    return GroupSummary(int(doc.get("scored", 0)), doc.get("t|lo"), doc.get("t|hi"), lo, hi)


def _feed_open_group(
    store: RunStore,
    tenant: str,
    run_id: str,
    group: str,
    summary: GroupSummary,
    items: int,
    size: int,
    step: int,
    now: float,
) -> tuple[int, GroupSummary] | None:
    """Merge a group's new samples; the group (with its first step) when these samples completed it."""
    doc, _ = store.merge_doc(tenant, open_kind(run_id), group, _open_merge(summary, items, step, now))
    total = int(doc["n"])
    # Exactly one merge crosses the size (merges are serialised), so one caller judges the group;
    # the delete confirms it against a stale sweep that got there first.
    if total - items < size <= total and store.delete_doc(tenant, open_kind(run_id), group):
        return int(doc["step"]), _from_open(doc)
    return None


def _new_step(
    store: RunStore,
    tenant: str,
    run_id: str,
    step: int,
    group_size: int | None,
    settings: InsightSettings,
    now: float,
) -> None:
    """Once per step and run: judge stale per-sample groups, drop old steps, warn on dead groups."""
    if group_size is not None:
        for name, doc in store.list_docs(tenant, open_kind(run_id)).items():
            stale = float(doc.get("at", 0)) < now - settings.insight_group_ttl_s
            behind = int(doc.get("step", step)) <= step - STALE_STEP_LAG
            if (stale or behind) and store.delete_doc(tenant, open_kind(run_id), name):
                merge = DocMerge(add=group_counters([_from_open(doc)]))
                store.merge_doc(tenant, steps_kind(run_id), step_name(int(doc.get("step", step))), merge)
    docs = store.list_docs(tenant, steps_kind(run_id))
    names = sorted(docs)
    for name in names[: max(len(names) - settings.insight_steps, 0)]:
        store.delete_doc(tenant, steps_kind(run_id), name)
    # The steps before this one are (mostly) finished: judge them, not the one just begun.
    done = [step_summary(int(n), docs[n]) for n in names[-settings.insight_steps :] if int(n) < step]
    warning = dead_group_warning(done, settings.dead_group_warn, settings.dead_group_warn_steps)
    if warning:
        log.warning(warning, extra={"tenant": tenant, "run_id": run_id, "step": step})


def read_steps(store: RunStore, tenant: str, run_id: str, last: int | None = None) -> list[dict[str, Any]]:
    """The run's per-step statistics, oldest first (``last``: only the newest so many)."""
    docs = store.list_docs(tenant, steps_kind(run_id))
    names = sorted(docs)
    if last is not None:
        names = names[-last:] if last > 0 else []
    return [step_summary(int(n), docs[n]) for n in names]


def forget(store: RunStore, tenant: str, run_id: str) -> None:
    """Drop a deleted run's statistics and open groups (and its gauges)."""
    for kind in (steps_kind(run_id), open_kind(run_id)):
        for name in store.list_docs(tenant, kind):
            store.delete_doc(tenant, kind, name)
    gauges.forget(tenant, run_id)

"""What one scoring call with a ``run_id`` adds to the run's insight, kept in the run store.

A scoring call only adds to merges pending in memory (`app.insight.pending`); a flush every
``MEDREWARD_INSIGHT_FLUSH_S`` writes them (see `Recorder`). Two kinds of documents per run,
both merged atomically (`RunStore.merge_doc`), so any number of workers and replicas feed
them without losing an update:

- ``insight-steps:<run>``, one per training step (name: the zero-padded step): the additive
  counters of `app.insight.stats` plus the τ and MedLoc-R1 window seen last in that step. Only
  the newest ``MEDREWARD_INSIGHT_STEPS`` steps are kept: when a step's document is created, the
  oldest beyond the bound are deleted.
- ``insight-open:<run>``, per-sample traffic only (``group_size`` set): one per open GRPO group,
  the mergeable summary of its samples so far (count, range of totals, range of each outcome
  component). The flush whose merge makes the count reach ``group_size`` judges the group
  (dead, phantom or live) and adds it to the step of its first sample. A group still short of
  samples ``MEDREWARD_INSIGHT_GROUP_TTL_S`` after its last one, or two steps behind the run, is
  judged with the samples it has when the run's next step starts.

Batch traffic (TRL: one request per rank per step) needs no buffer: the items of one request
with the same ``group`` are a group. Items with no ``group`` are groups of one (counted as
``small_groups``, never dead). A retried request (its ``request_id`` replayed) adds nothing.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.insight import gauges
from app.insight.pending import Combined, DocKey, PendingMerges
from app.insight.settings import InsightSettings, get_insight_settings
from app.insight.stats import (
    GroupSummary,
    dead_group_warning,
    group_counters,
    item_counters,
    step_summary,
    summarise_group,
)
from schedulers.base import GroupPolicy, RunNotFoundError, RunStore
from schedulers.stores.doc_merge import DocMerge

log = logging.getLogger("app.insight")

# A per-sample group this many steps behind the run is judged as it is: the group buffer's own
# default lag (two tolerates the one step of overlap of asynchronous rollouts).
STALE_STEP_LAG = GroupPolicy().step_lag


STEPS_PREFIX, OPEN_PREFIX = "insight-steps:", "insight-open:"


def steps_kind(run_id: str) -> str:
    return STEPS_PREFIX + run_id


def open_kind(run_id: str) -> str:
    return OPEN_PREFIX + run_id


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
) -> None:
    """Add one scored batch to the run's statistics; never raises (scoring must not fail for it)."""
    settings = get_insight_settings()
    if not settings.insight or schedule is None or schedule.get("replayed") or not batch.totals:
        return
    try:
        recorder_for(store, settings).add(tenant, run_id, batch, schedule, step, group_size)
    except Exception as exc:  # the reward was computed; losing a statistic must not lose it
        log.warning("run insight not recorded: %s", exc, extra={"tenant": tenant, "run_id": run_id})


def _newest_summaries(docs: Mapping[str, Any], names: Sequence[str], before: int, rated: int) -> list[dict[str, Any]]:
    """The summaries of the steps before ``before``, oldest first, back to the ``rated``-th with a
    dead-group rate: all the warning looks at (`dead_group_warning` over the last span, with and
    without the newest). Without ``step`` in the requests a run counts one step per report, so a
    new step begins with every group closed; summarising every kept step (500) each time took
    ~15% of the server's CPU under per-sample traffic.
    """
    out: list[dict[str, Any]] = []
    for name in reversed(names):
        if int(name) >= before:
            continue
        summary = step_summary(int(name), docs[name])
        out.append(summary)
        if summary.get("dead_group_rate") is not None:
            rated -= 1
            if rated == 0:
                break
    out.reverse()
    return out


def _summary(batch: ScoredBatch, idx: Sequence[int]) -> GroupSummary:
    totals = [batch.totals[i] for i in idx]
    outcomes = {k: [v[i] for i in idx] for k, v in batch.components.items() if k in batch.outcome}
    return summarise_group(totals, outcomes)


def _open_merge(summary: GroupSummary, items: int, size: int, step: int, now: float) -> DocMerge:
    low: dict[str, float] = {"step": step}
    high: dict[str, float] = {"at": now}
    if summary.total_lo is not None and summary.total_hi is not None:
        low["t|lo"], high["t|hi"] = summary.total_lo, summary.total_hi
    for key, value in summary.outcome_lo.items():
        low[f"o|{key}|lo"] = value
    for key, value in summary.outcome_hi.items():
        high[f"o|{key}|hi"] = value
    return DocMerge(add={"n": items, "scored": summary.scored}, low=low, high=high, keep={"size": size})


def _from_open(doc: Mapping[str, Any]) -> GroupSummary:
    lo = {k[2:-3]: float(v) for k, v in doc.items() if k.startswith("o|") and k.endswith("|lo")}
    hi = {k[2:-3]: float(v) for k, v in doc.items() if k.startswith("o|") and k.endswith("|hi")}
    return GroupSummary(int(doc.get("scored", 0)), doc.get("t|lo"), doc.get("t|hi"), lo, hi)


class Recorder:
    """One store's run insight: merges gathered from scoring calls, written by a periodic flush.

    ``MEDREWARD_INSIGHT_FLUSH_S`` (default 1 s) bounds how stale another worker's view can be;
    0 writes every call through. The stats route flushes its own process first, and the service
    flushes at shutdown; a crash loses at most one interval of statistics (never a reward).
    """

    def __init__(self, store: RunStore, settings: InsightSettings) -> None:
        self.store = store
        self.settings = settings
        self.pending = PendingMerges()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self,
        tenant: str,
        run_id: str,
        batch: ScoredBatch,
        schedule: Mapping[str, Any],
        step: int | None,
        group_size: int | None,
    ) -> None:
        now = time.time()
        at_step = step if step is not None else int(schedule.get("step") or 0)
        judged: list[GroupSummary] = []
        order: dict[str | None, list[int]] = {}
        for i, g in enumerate(batch.groups):
            order.setdefault(g, []).append(i)
        for g, idx in order.items():
            if g is None:  # no group: each item is a group of one
                judged.extend(GroupSummary(1 if batch.totals[i] is not None else 0) for i in idx)
            elif group_size is None:
                judged.append(_summary(batch, idx))
            else:  # per-sample traffic: the group is judged at the flush that completes it
                merge = _open_merge(_summary(batch, idx), len(idx), group_size, at_step, now)
                self.pending.add((tenant, open_kind(run_id), g), merge)
        keep: dict[str, Any] = {"tau": schedule.get("tau"), "updated_at": now}
        if group_size is not None:
            keep["group_size"] = group_size
        counters = {**item_counters(batch.totals, batch.components), **group_counters(judged)}
        self.pending.add((tenant, steps_kind(run_id), step_name(at_step)), DocMerge(add=counters, keep=keep))
        if self.settings.insight_flush_s <= 0:
            self.flush()

    # ---- flushing -----------------------------------------------------------------------
    def flush(self) -> None:
        """Write every pending merge; judge the per-sample groups they complete."""
        with self._flush_lock:
            docs = self.pending.take()
            if docs:
                self._write(docs)

    def _write(self, docs: dict[DocKey, Combined]) -> None:
        now = time.time()
        runs: dict[tuple[str, str], dict[str, Any] | None] = {}
        for tenant, kind, _ in docs:
            key = (tenant, kind.split(":", 1)[1])
            if key not in runs:
                try:
                    runs[key] = self.store.get_run(*key)
                except RunNotFoundError:  # deleted since: its statistics go with it
                    runs[key] = None
        steps: dict[DocKey, Combined] = {}
        for (tenant, kind, name), combined in docs.items():
            run_id = kind.split(":", 1)[1]
            if runs[(tenant, run_id)] is None:
                continue
            if kind.startswith(STEPS_PREFIX):
                steps.setdefault((tenant, kind, name), Combined()).absorb(combined.merge())
                continue
            doc, _ = self.store.merge_doc(tenant, kind, name, combined.merge())
            added, total, size = int(combined.add.get("n", 0)), int(doc["n"]), int(doc.get("size") or 0)
            # Exactly one merge crosses the size (merges are serialised), so one flush judges the group;
            # the delete confirms it against a stale sweep that got there first.
            if size and total - added < size <= total and self.store.delete_doc(tenant, kind, name):
                step_key = (tenant, steps_kind(run_id), step_name(int(doc["step"])))
                steps.setdefault(step_key, Combined()).absorb(DocMerge(add=group_counters([_from_open(doc)])))
        newest: dict[tuple[str, str], str] = {}
        begun: dict[tuple[str, str], list[tuple[int, int | None]]] = {}  # per run: the steps this flush created
        for tenant, kind, name in steps:
            run_key = (tenant, kind.split(":", 1)[1])
            newest[run_key] = max(newest.get(run_key, name), name)
        for (tenant, kind, name), combined in sorted(steps.items()):
            run_id = kind.split(":", 1)[1]
            run = runs[(tenant, run_id)] or {}
            is_newest = newest[(tenant, run_id)] == name
            if is_newest:  # the window as it stands now belongs to the newest step
                combined.keep.setdefault("tau", run.get("tau"))
                combined.keep["window"] = run.get("window")
            doc, created = self.store.merge_doc(tenant, kind, name, combined.merge())
            if is_newest:
                gauges.observe(tenant, run_id, step_summary(int(name), doc))
            if created:
                begun.setdefault((tenant, run_id), []).append((int(name), doc.get("group_size")))
        for (tenant, run_id), new_steps in begun.items():
            self._new_steps(tenant, run_id, new_steps, now)

    def _new_steps(self, tenant: str, run_id: str, new_steps: list[tuple[int, int | None]], now: float) -> None:
        """Once per flush and run that began steps: judge stale per-sample groups, drop old steps,
        warn on dead groups (``new_steps``: each begun step and its group size, ascending).

        Without ``step`` in the requests a run counts one step per report, so under per-sample
        traffic a step begins with every closed group, many per flush: the stale groups and the
        old steps are handled once, for the newest step (what handling each step in turn ends
        with), and the run's documents are listed once.
        """
        store, settings = self.store, self.settings
        newest, group_size = new_steps[-1]
        if group_size is not None:
            for name, doc in store.list_docs(tenant, open_kind(run_id)).items():
                stale = float(doc.get("at", 0)) < now - settings.insight_group_ttl_s
                behind = int(doc.get("step", newest)) <= newest - STALE_STEP_LAG
                if (stale or behind) and store.delete_doc(tenant, open_kind(run_id), name):
                    merge = DocMerge(add=group_counters([_from_open(doc)]))
                    store.merge_doc(tenant, steps_kind(run_id), step_name(int(doc.get("step", newest))), merge)
        docs = store.list_docs(tenant, steps_kind(run_id))
        names = sorted(docs)
        for name in names[: max(len(names) - settings.insight_steps, 0)]:
            store.delete_doc(tenant, steps_kind(run_id), name)
        level, span = settings.dead_group_warn, settings.dead_group_warn_steps
        for step, _ in new_steps:
            # The steps kept when this one began (the later ones of this flush did not exist yet).
            upto = bisect.bisect_right(names, step_name(step))
            kept = names[max(upto - settings.insight_steps, 0) : upto]
            # The steps before this one are (mostly) finished: judge them, not the one just begun.
            done = _newest_summaries(docs, kept, step, span + 1)
            warning = dead_group_warning(done, level, span)
            # Logged when the rate first stays high (the stats and the dashboard show it while it lasts).
            if warning and not dead_group_warning(done[:-1], level, span):
                log.warning(warning, extra={"tenant": tenant, "run_id": run_id, "step": step})

    # ---- the flusher thread -------------------------------------------------------------
    def start(self) -> None:
        if self.settings.insight_flush_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="insight-flush", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.insight_flush_s):
            try:
                self.flush()
            except Exception as exc:  # a store hiccup: these statistics are lost, the next flush goes on
                log.warning("run insight flush failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()


_recorders: dict[int, Recorder] = {}
_registry_lock = threading.Lock()


def recorder_for(store: RunStore, settings: InsightSettings | None = None) -> Recorder:
    """The store's recorder, started on first use."""
    with _registry_lock:
        rec = _recorders.get(id(store))
        if rec is None or rec.store is not store:
            rec = _recorders[id(store)] = Recorder(store, settings or get_insight_settings())
            rec.start()
        return rec


def flush(store: RunStore) -> None:
    """Write this process's pending statistics for ``store`` (before reading them)."""
    with _registry_lock:
        rec = _recorders.get(id(store))
    if rec is not None and rec.store is store:
        rec.flush()


def close(store: RunStore) -> None:
    """Stop the flusher and write what is pending (the service's shutdown, before the store closes)."""
    with _registry_lock:
        rec = _recorders.pop(id(store), None)
    if rec is not None and rec.store is store:
        try:
            rec.stop()
        except Exception as exc:  # shutdown goes on
            log.warning("run insight not flushed at shutdown: %s", exc)


def read_steps(store: RunStore, tenant: str, run_id: str, last: int | None = None) -> list[dict[str, Any]]:
    """The run's per-step statistics, oldest first (``last``: only the newest so many)."""
    docs = store.list_docs(tenant, steps_kind(run_id))
    names = sorted(docs)
    if last is not None:
        names = names[-last:] if last > 0 else []
    return [step_summary(int(n), docs[n]) for n in names]


def forget(store: RunStore, tenant: str, run_id: str) -> None:
    """Drop a deleted run's statistics and open groups (and its gauges)."""
    flush(store)  # what this process still holds for the run is dropped (the run is gone)
    for kind in (steps_kind(run_id), open_kind(run_id)):
        for name in store.list_docs(tenant, kind):
            store.delete_doc(tenant, kind, name)
    gauges.forget(tenant, run_id)

"""The recorder across workers: two processes' recorders on one SQLite file judge each group once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.insight.recorder import Recorder, ScoredBatch, _newest_summaries, read_steps, step_name
from app.insight.settings import InsightSettings
from app.insight.stats import dead_group_warning, step_summary
from schedulers.stores import open_store

# Flushed by hand: the background thread never runs in these tests.
MANUAL = InsightSettings(insight_flush_s=60.0)
SCHEDULE = {"tau": 0.5, "step": 0}


def one(group: str, total: float, iou: float) -> ScoredBatch:
    return ScoredBatch([group], [total], {"iou": [iou], "format": [total]}, frozenset({"iou"}))


def test_per_sample_groups_split_across_two_workers_are_judged_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/runs.db"
    a_store, b_store = open_store(url), open_store(url)
    a_store.create_run("t", "r", "fixed", {"tau": 0.5})
    a, b = Recorder(a_store, MANUAL), Recorder(b_store, MANUAL)
    # 10 groups of 4; samples alternate between the workers. Groups 0-4 phantom, 5-9 dead.
    for g in range(10):
        for i in range(4):
            total = (0.2 if i % 2 else 0.0) if g < 5 else 1.0
            (a if i % 2 else b).add("t", "r", one(f"g{g}", total, 0.0 if g < 5 else 1.0), SCHEDULE, 1, 4)
        # Interleave the flushes with the feeding so that each worker completes some groups.
        (a if g % 2 else b).flush()
    a.flush()
    b.flush()
    [step] = read_steps(a_store, "t", "r")
    assert (step["items"], step["groups"], step["dead_groups"], step["phantom_groups"]) == (40, 10, 5, 5)
    assert a_store.list_docs("t", "insight-open:r") == {}
    a_store.close()
    b_store.close()


def test_write_through_needs_no_flush(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/runs.db")
    store.create_run("t", "r", "fixed", {})
    rec = Recorder(store, InsightSettings(insight_flush_s=0))
    rec.add("t", "r", ScoredBatch(["g", "g"], [0.5, 0.5], {"iou": [1.0, 1.0]}, frozenset({"iou"})), SCHEDULE, 3, None)
    [step] = read_steps(store, "t", "r")
    assert (step["step"], step["dead_groups"], step["tau"]) == (3, 1, 0.5)
    store.close()


def test_statistics_of_a_deleted_run_are_dropped_at_flush() -> None:
    store = open_store("memory://")
    store.create_run("t", "r", "fixed", {})
    rec = Recorder(store, MANUAL)
    rec.add("t", "r", one("g", 0.5, 1.0), SCHEDULE, 1, None)
    store.delete_run("t", "r")
    rec.flush()
    assert store.list_docs("t", "insight-steps:r") == {}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=30),
    st.integers(1, 6),
    st.integers(0, 35),
)
def test_the_warning_reads_only_the_newest_steps_it_needs(
    counts: list[tuple[int, int]], span: int, before: int
) -> None:
    # Step i: `groups` groups of which `dead` dead (no groups: no rate, skipped by the warning).
    docs = {step_name(i): {"groups": g, "dead": min(d, g)} for i, (g, d) in enumerate(counts)}
    names = sorted(docs)
    full = [step_summary(int(n), docs[n]) for n in names if int(n) < before]
    tail = _newest_summaries(docs, names, before, span + 1)
    for level in (0.0, 0.4, 0.9):
        assert dead_group_warning(tail, level, span) == dead_group_warning(full, level, span)
        assert dead_group_warning(tail[:-1], level, span) == dead_group_warning(full[:-1], level, span)


def test_a_flush_that_begins_many_steps_keeps_the_newest_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Per-sample traffic without ``step``: one step per closed group, many begun per flush."""
    store = open_store(f"sqlite:///{tmp_path}/runs.db")
    store.create_run("t", "r", "fixed", {})
    rec = Recorder(store, InsightSettings(insight_flush_s=60.0, insight_steps=4, dead_group_warn_steps=2))
    # A stale open group of step 1 (its other samples never came), then steps 2-9 of dead groups.
    rec.add("t", "r", one("lost", 0.5, 1.0), SCHEDULE, 1, 4)
    rec.flush()
    with caplog.at_level("WARNING", logger="app.insight"):
        for step in range(2, 10):
            for _ in range(2):
                rec.add("t", "r", one(f"g{step}", 1.0, 1.0), SCHEDULE, step, 2)
        rec.flush()
    steps = read_steps(store, "t", "r")
    assert [s["step"] for s in steps] == [6, 7, 8, 9], "the newest insight_steps kept"
    assert store.list_docs("t", "insight-open:r") == {}, "the stale group was judged"
    warnings = [r for r in caplog.records if "dead-group rate" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].step == 4  # type: ignore[attr-defined]  # steps 2 and 3 dead
    store.close()

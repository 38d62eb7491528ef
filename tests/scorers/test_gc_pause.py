"""`scorers.score` pauses the cyclic collector for a batch and always gives it back."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator, Sequence

import pytest

from scorers import REGISTRY, Item, Params, Score, freeze_heap, register, score
from scorers.gc_pause import MIN_ITEMS

ITEMS = [{"completion": "<think>a</think><answer>b</answer>"}] * (MIN_ITEMS * 4)


@pytest.fixture
def exploding() -> Iterator[str]:
    """A reward that raises on whole batches (the registry then scores item by item)."""

    @register("test-exploding", params=Params, range=(0.0, 1.0), description="raises on batches", examples=())
    def _fn(items: Sequence[Item], params: Params) -> list[Score]:
        if len(items) > 1:
            assert not gc.isenabled(), "a big batch runs with the collector paused"
            raise RuntimeError("boom")
        return [Score.ok(1.0)]

    yield "test-exploding"
    del REGISTRY["test-exploding"]


@pytest.mark.parametrize(
    ("n", "enabled_before"),
    [(MIN_ITEMS * 4, True), (MIN_ITEMS * 4, False), (1, True)],
    ids=["big batch, collector on", "big batch, collector off stays off", "small batch"],
)
def test_collector_state_is_restored(n: int, enabled_before: bool) -> None:
    if not enabled_before:
        gc.disable()
    try:
        score("format", ITEMS[:n])
        assert gc.isenabled() is enabled_before
    finally:
        gc.enable()


def test_collector_restored_when_the_scorer_raises(exploding: str) -> None:
    out = score(exploding, ITEMS)
    assert [s.reward for s in out] == [1.0] * len(ITEMS)  # rescored one by one
    assert gc.isenabled()


def test_a_reward_sets_its_own_pause_threshold() -> None:
    """A reward registered with ``gc_pause_items`` pauses from that batch size, not before."""
    seen: list[bool] = []

    @register("test-threshold", params=Params, range=(0.0, 1.0), description="records gc", gc_pause_items=50)
    def _fn(items: Sequence[Item], params: Params) -> list[Score]:
        seen.append(gc.isenabled())
        return [Score.ok(1.0) for _ in items]

    try:
        score("test-threshold", [{"completion": "x"}] * 49)
        score("test-threshold", [{"completion": "x"}] * 50)
    finally:
        del REGISTRY["test-threshold"]
    assert seen == [True, False]
    assert gc.isenabled()


class _Node:
    """A cycle-capable object (plain dicts and lists would do, but a weakref needs a class)."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def test_freeze_heap_exempts_what_exists_and_still_collects_what_comes_after() -> None:
    old = _Node()
    old.other = old  # a cycle that is alive when the heap is frozen
    try:
        frozen = freeze_heap()
        assert frozen == gc.get_freeze_count() > 1000  # the imported modules, at least
        new = _Node()
        new.other = new  # a cycle made afterwards, then dropped
        ref = weakref.ref(new)
        del new
        gc.collect()
        assert ref() is None, "objects allocated after the freeze are collected as before"
        assert gc.is_tracked(old) and old.other is old
    finally:
        gc.unfreeze()

"""Run-insight statistics on hand-computed groups, and against a naive reference (numpy)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from app.insight.stats import (
    HIST_BINS,
    GroupSummary,
    dead_group_warning,
    group_counters,
    histogram_bin,
    histogram_edges,
    item_counters,
    step_summary,
    summarise_group,
    verdict,
)
from schedulers.stores.doc_merge import DocMerge, merge_fields

# (note, totals, outcome rewards per component, expected verdict). Totals are 0.8·iou + 0.2·format.
GROUPS = [
    ("all hit, same format: dead", [1.0, 1.0, 1.0, 1.0], {"iou": [1, 1, 1, 1]}, "dead"),
    ("all miss, same format: dead", [0.2, 0.2, 0.2], {"iou": [0, 0, 0]}, "dead"),
    ("all miss, format differs: phantom", [0.2, 0.15, 0.2, 0.0], {"iou": [0, 0, 0, 0]}, "phantom"),
    ("one hit among misses: live", [1.0, 0.2, 0.2, 0.2], {"iou": [1, 0, 0, 0]}, "live"),
    (
        "two outcomes, both flat, totals spread: phantom",
        [0.9, 0.8],
        {"answer": [1, 1], "semantic": [0.5, 0.5]},
        "phantom",
    ),
    ("two outcomes, one moves: live", [0.9, 0.8], {"answer": [1, 1], "semantic": [0.5, 0.4]}, "live"),
    ("an abstained item is left out: the rest are equal, dead", [0.2, None, 0.2], {"iou": [0, None, 0]}, "dead"),
    ("one scored item: no group statistic", [0.7, None, None], {"iou": [1, None, None]}, "small"),
    ("nothing scored", [None, None], {"iou": [None, None]}, "small"),
    ("equal up to float noise: dead", [0.1 + 0.2, 0.3], {"iou": [0, 0]}, "dead"),
    ("no outcome component: a spread is live, never phantom", [0.5, 0.25], {}, "live"),
]


@pytest.mark.parametrize(("totals", "outcomes", "expected"), [g[1:] for g in GROUPS], ids=[g[0] for g in GROUPS])
def test_group_verdicts(totals: list[float | None], outcomes: dict[str, list[float | None]], expected: str) -> None:
    assert verdict(summarise_group(totals, outcomes)) == expected


def test_step_rates_on_hand_computed_groups() -> None:
    """Four groups: dead, phantom, live, live → dead 1/4, phantom 1/4, no signal 2/4."""
    groups = [
        ([1.0, 1.0], {"iou": [1.0, 1.0]}),
        ([0.2, 0.0], {"iou": [0.0, 0.0]}),
        ([1.0, 0.2], {"iou": [1.0, 0.0]}),
        ([0.8, 0.0, None], {"iou": [1.0, 0.0, None]}),
    ]
    totals = [t for g in groups for t in g[0]]
    comps = {"iou": [r for g in groups for r in g[1]["iou"]]}
    doc = {**item_counters(totals, comps), **group_counters([summarise_group(t, o) for t, o in groups])}
    s = step_summary(7, doc)
    assert (s["groups"], s["dead_groups"], s["phantom_groups"]) == (4, 1, 1)
    assert (s["dead_group_rate"], s["phantom_group_rate"], s["no_signal_rate"]) == (0.25, 0.25, 0.5)
    assert (s["items"], s["scored"]) == (9, 8)
    # iou: 8 values (4 hits), one abstention out of 9.
    iou = s["components"]["iou"]
    assert (iou["n"], iou["abstentions"]) == (8, 1)
    assert iou["mean"] == pytest.approx(4 / 8)
    assert iou["abstain_rate"] == pytest.approx(1 / 9)
    # Totals 1.0 ×3 → bin 39; 0.2 ×2 → bin 24; 0.0 ×2 → bin 20; 0.8 → bin 36.
    hist = s["histogram"]
    assert (hist[39], hist[24], hist[20], hist[36], sum(hist)) == (3, 2, 2, 1, 8)


def test_summary_matches_numpy_and_merging_halves_equals_the_whole() -> None:
    """Counters are additive: two workers' halves merged give the statistics of the whole batch."""
    rng = random.Random(3)
    totals = [None if rng.random() < 0.1 else rng.uniform(-1, 1) for _ in range(200)]
    comps = {"answer": [None if t is None else float(rng.random() < 0.5) for t in totals]}
    whole = item_counters(totals, comps)
    merged = merge_fields(None, DocMerge(add=item_counters(totals[:77], {"answer": comps["answer"][:77]})))
    merged = merge_fields(merged, DocMerge(add=item_counters(totals[77:], {"answer": comps["answer"][77:]})))
    s, m = step_summary(0, whole), step_summary(0, merged)
    values = np.array([t for t in totals if t is not None])
    assert s["reward"]["mean"] == pytest.approx(values.mean()) and m["reward"]["mean"] == pytest.approx(values.mean())
    assert s["reward"]["std"] == pytest.approx(values.std()) and m["reward"]["std"] == pytest.approx(values.std())
    expected_hist, _ = np.histogram(values, bins=np.array(histogram_edges()))
    assert s["histogram"] == m["histogram"] == expected_hist.tolist()
    assert (
        s["components"]["answer"]["abstentions"]
        == m["components"]["answer"]["abstentions"]
        == len(totals) - len(values)
    )


def test_histogram_bins_cover_the_reward_range() -> None:
    edges = histogram_edges()
    assert (len(edges), edges[0], edges[-1]) == (HIST_BINS + 1, -1.0, 1.0)
    assert [histogram_bin(v) for v in (-5.0, -1.0, -0.95, 0.049, 0.05, 1.0, 7.0)] == [0, 0, 1, 20, 21, 39, 39]


def test_empty_step_has_no_rates() -> None:
    s = step_summary(1, {})
    assert s["dead_group_rate"] is None and s["reward"] == {"mean": None, "std": None} and s["components"] == {}


def test_component_names_with_separators_survive() -> None:
    s = step_summary(0, item_counters([0.5], {"iou|box": [0.5]}))
    assert list(s["components"]) == ["iou|box"]


@pytest.mark.parametrize(
    ("rates", "warns"),
    [
        ([0.9, 0.8, 0.7], True),  # above 0.5 in each of the last 3
        ([0.9, 0.4, 0.7, 0.8], False),  # one of the last 3 dipped below
        ([0.9, 0.8], False),  # not yet 3 steps with groups
        ([0.9, None, 0.8, 0.7], True),  # steps without groups are skipped, not counted as low
        ([0.5, 0.6, 0.7], False),  # "above": 0.5 itself is not above 0.5
    ],
)
def test_dead_group_warning(rates: list[float | None], warns: bool) -> None:
    steps = [{"step": i, "dead_group_rate": r} for i, r in enumerate(rates)]
    assert (dead_group_warning(steps, 0.5, 3) is not None) is warns


def test_group_summary_is_mergeable_by_extremes() -> None:
    """A per-sample group summarised sample by sample gives the verdict of the whole group."""
    totals, iou = [0.2, 0.0, 0.2, 0.2], [0.0, 0.0, 0.0, 0.0]
    parts = [summarise_group([t], {"iou": [r]}) for t, r in zip(totals, iou, strict=True)]
    merged = GroupSummary(
        sum(p.scored for p in parts),
        min(p.total_lo for p in parts if p.total_lo is not None),
        max(p.total_hi for p in parts if p.total_hi is not None),
        {"iou": min(p.outcome_lo["iou"] for p in parts)},
        {"iou": max(p.outcome_hi["iou"] for p in parts)},
    )
    assert verdict(merged) == verdict(summarise_group(totals, {"iou": iou})) == "phantom"

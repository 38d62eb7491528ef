"""The semantic fidelity bench: its AUROC maths, its data, and the target it must keep meeting."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from bench.bench_semantic import HOLDOUT, PAIRS, auroc, fidelity, grpo_items, load_pairs


def naive_auroc(scores: list[float], labels: list[int]) -> float:
    """P(score of a positive > score of a negative), ties counting one half: every pair compared."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_rank_auroc_matches_pairwise_definition() -> None:
    rng = random.Random(1)
    for _ in range(200):
        n = rng.randint(2, 30)
        labels = [rng.randint(0, 1) for _ in range(n)]
        if len(set(labels)) < 2:
            continue
        scores = [round(rng.random(), 1) for _ in range(n)]  # rounding makes ties common
        assert auroc(scores, labels) == pytest.approx(naive_auroc(scores, labels))


@pytest.mark.parametrize(
    ("path", "minimum"),
    [(PAIRS, 100), (HOLDOUT, 40)],
    ids=["main-set", "holdout"],
)
def test_pair_files_are_well_formed(path: Path, minimum: int) -> None:
    pairs = load_pairs(path)
    assert len(pairs) >= minimum
    assert {p["label"] for p in pairs} == {0, 1}
    assert all(p["reference"].strip() and p["answer"].strip() for p in pairs)
    cats = Counter(p["category"] for p in pairs)
    for near_miss in ("negation", "laterality", "wrong_organ", "polarity", "wrong_sequence"):
        assert cats[near_miss] >= 4, near_miss
    assert len({(p["reference"], p["answer"]) for p in pairs}) == len(pairs), "no duplicate pairs"


@pytest.mark.slow
def test_combined_score_meets_the_fidelity_target() -> None:
    summary, _ = fidelity(load_pairs(PAIRS))
    by_name = {row["scorer"]: row for row in summary}
    combined = by_name["medreward combined"]
    assert combined["auroc"] >= 0.95
    assert combined["auroc"] > by_name["lexical (rapidfuzz)"]["auroc"]
    assert combined["auroc"] > by_name["raw cosine (MiniLM)"]["auroc"]
    assert combined["acc@0.5"] >= 0.9


def test_throughput_groups_are_distinct_and_share_their_reference() -> None:
    items = grpo_items(load_pairs(PAIRS), 4)
    assert len(items) == 32
    for g in range(4):
        group = items[g * 8 : (g + 1) * 8]
        assert len({it["reference"] for it in group}) == 1
        assert len({it["completion"] for it in group}) == 8

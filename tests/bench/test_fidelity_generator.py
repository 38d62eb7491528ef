"""The held-out fidelity sets: built without the rules, split by concept, deterministic."""

from __future__ import annotations

import ast
from pathlib import Path

from bench.fidelity.generate import SPLITS, build, split_of

FIDELITY = Path(__file__).resolve().parents[2] / "bench" / "fidelity"


def test_generator_does_not_read_the_rules() -> None:
    # the sets must come from the ontology's structure, not from the code they evaluate
    for path in FIDELITY.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("scorers"), path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("scorers") for a in node.names), path


def test_splits_share_no_concept_and_are_deterministic() -> None:
    first, second = build(), build()
    assert first == second
    for kind in ("semantic", "answer"):
        ids = {split: {row["id"] for row in first[split][kind]} for split in SPLITS}
        assert ids["dev"].isdisjoint(ids["test"]), kind
        for split in SPLITS:
            assert all(split_of(i) == split for i in ids[split])
            assert len(first[split][kind]) > 5000
    labels = {row["label"] for row in first["test"]["semantic"]}
    assert labels == {0, 1}

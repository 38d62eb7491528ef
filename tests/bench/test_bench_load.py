"""Smoke test of the load benchmark's batch rows: a real server under wrk, in alternating rounds
with in-process scoring, each round's ratio its own."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from bench import bench_load, report


def test_batch_rows_alternate_with_in_process_rounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    gc.unfreeze()  # an earlier test's app start-up froze this process's heap
    bench_load.main(["--rows", "batch", "--workers", "1", "--seconds", "2"])
    data = json.loads((tmp_path / "load-partial.json").read_text())
    rows = data["rows"]
    assert [(r["traffic"], r["workers"], r["errors"]) for r in rows] == [
        ("batch 256 iou", 1, 0),
        ("batch 256 iou, details: false", 1, 0),
        ("batch 256 iou, MessagePack", 1, 0),
    ]
    for row in rows:
        rounds = row["rounds"]
        assert len(rounds) == bench_load.BATCH_ROUNDS
        for r in rounds:
            assert r["items/s"] > 0 and r["in-process dicts items/s"] > 0
            assert r["vs in-process dicts"] == pytest.approx(r["items/s"] / r["in-process dicts items/s"])
        # Each figure is the median of the rounds' own.
        ratios = sorted(r["vs in-process dicts"] for r in rounds)
        assert row["vs in-process dicts"] == pytest.approx(ratios[len(ratios) // 2])
        key = f"{row['traffic']} http (1 worker(s)) vs in-process (dicts)"
        assert data["ratios"][key] == row["vs in-process dicts"]
    # Every body was measured in the same rounds, against the same in-process figures.
    for row in rows[1:]:
        assert [r["in-process dicts items/s"] for r in rows[0]["rounds"]] == [
            r["in-process dicts items/s"] for r in row["rounds"]
        ]
    assert gc.get_freeze_count() == 0, "the in-process rounds unfreeze what they froze"

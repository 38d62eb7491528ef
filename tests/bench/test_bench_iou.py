"""Smoke test of the IoU benchmark: it runs both heaps, checks its own agreement with the baseline,
and leaves the collector as it found it."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from bench import bench_iou, iou_instructions, report


def test_bench_runs_and_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    bench_iou.main(["--repeat", "2", "--min-seconds", "0.0001", "--json", "smoke"])
    data = json.loads((tmp_path / "smoke.json").read_text())
    rows = data["single_box"]
    assert [r["batch"] for r in rows] == [1, 32, 256, 4096, 4096] * 2
    assert {r["heap"] for r in rows} == {"as imported", "frozen"}
    assert all(r["ours_us_per_item"] > 0 and r["ratio_ours_over_vlmr1"] > 0 for r in rows)
    assert [r["heap"] for r in data["multi_box"]] == ["as imported", "frozen"]
    assert data["frozen_objects"] > 1000
    assert gc.get_freeze_count() == 0, "the bench unfreezes what it froze"


def test_baseline_reads_what_vlm_r1_reads() -> None:
    """The baseline scores the integer-list formats and gives 0 to what its regex cannot read."""
    items = bench_iou.mixed_format_items(8)
    base = bench_iou.baseline_rewards(items)
    for it, r in zip(items, base, strict=True):
        if "<|box_start|>" in it.completion:
            assert r == 0.0
    assert any(r > 0 for r in base)


def test_instruction_count_workload_runs_and_valgrind_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """The measured workload runs in-process; without valgrind the tool says so and exits 2."""
    iou_instructions._workload("ours", 32, 0)
    iou_instructions._workload("vlmr1", 32, 0)
    monkeypatch.setattr(iou_instructions.shutil, "which", lambda name: None)
    assert iou_instructions.main(["--batches", "1"]) == 2

"""Smoke test of the IoU benchmark: it runs both heaps, checks its own agreement with the baseline,
and leaves the collector as it found it."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from bench import bench_iou, iou_instructions, report


@pytest.mark.parametrize("processes", [1, 2], ids=["in this process", "in two fresh processes"])
def test_bench_runs_and_writes_json(processes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    args = ["--repeat", "2", "--min-seconds", "0.0001", "--json", "smoke", "--processes", str(processes)]
    bench_iou.main(args)
    data = json.loads((tmp_path / "smoke.json").read_text())
    assert data["processes"] == processes
    rows = data["single_box"]
    assert [r["batch"] for r in rows] == [1, 32, 256, 4096, 4096] * 2
    assert {r["heap"] for r in rows} == {"as imported", "frozen"}
    assert all(r["ours_us_per_item"] > 0 and r["ratio_ours_over_vlmr1"] > 0 for r in rows)
    assert all(r["ratio_lowest"] <= r["ratio_ours_over_vlmr1"] <= r["ratio_highest"] for r in rows)
    assert [r["heap"] for r in data["multi_box"]] == ["as imported", "frozen"]
    assert data["frozen_objects"] > 1000
    assert gc.get_freeze_count() == 0, "the bench unfreezes what it froze"


def test_interleaved_rounds_time_each_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per call, not per round, and the ratio from the same rounds: on a clock that each call
    moves on by a fixed amount (3 units for ours, 2 for the baseline), the figures are exact."""
    now = [0.0]
    monkeypatch.setattr(bench_iou.time, "perf_counter", lambda: now[0])

    def tick(units: float) -> None:
        now[0] += units

    ours, base, ratio = bench_iou._interleaved(lambda: tick(3.0), lambda: tick(2.0), 40.0, 5)
    assert (ours, base, ratio) == (3.0, 2.0, 1.5)
    assert bench_iou._loops_for(lambda: tick(3.0), 40.0) == 13  # about 40 units of calls per round


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

"""Smoke test of the loopback bench: both ways measured in alternating rounds, the ratio theirs."""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path

import pytest

from bench import bench_loopback, report


def test_both_ways_are_measured_round_by_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    monkeypatch.chdir(tmp_path)
    cores = os.sched_getaffinity(0)
    bench_loopback.main(["--rounds", "2"])
    assert os.sched_getaffinity(0) == cores, "the bench gives the process its cores back"
    data = json.loads((tmp_path / "loopback.json").read_text())
    back, between = (row["rounds"] for row in data["rows"])
    assert len(back) == len(between) == 2 and min(back + between) > 0
    assert data["slowdown"] == pytest.approx(sorted(data["round ratios"])[1] / 2 + sorted(data["round ratios"])[0] / 2)
    assert list(tmp_path.glob("*.db")) == [], "the app's store lives in a temporary directory"
    gc.unfreeze()  # the app's start-up froze this process's heap, as the server does

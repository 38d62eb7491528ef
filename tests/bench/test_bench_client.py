"""Smoke test of the client benchmark: every way scores the batch alike, against a real server."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from bench import bench_client, report


def test_every_way_is_measured_against_in_process_scoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    gc.unfreeze()  # an earlier test's app start-up froze this process's heap
    bench_client.main(["--rounds", "2", "--seconds", "0.2"])
    rows = json.loads((tmp_path / "client.json").read_text())["rows"]
    ways = [r["way"] for r in rows]
    assert ways[0] == "in-process scorers.score" and len(ways) == 7
    assert {"MedRewardClient, MessagePack", "plain httpx, JSON, details: false"} <= set(ways)
    assert rows[0]["in-process / this (wall)"] == pytest.approx(1.0)
    for row in rows:
        assert len(row["rounds"]) == 2 and row["ms per call"] > 0 and row["items/s"] > 0
    assert gc.get_freeze_count() == 0, "the bench unfreezes what it froze"

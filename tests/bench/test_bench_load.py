"""Smoke test of the load benchmark's batch rows: a real server under wrk, interleaved with
in-process scoring (`bench.interleave`), in blocks that the bodies take in turns."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import bench_load, report


def test_batch_rows_interleave_http_with_in_process_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    gc.unfreeze()  # an earlier test's app start-up froze this process's heap
    bench_load.main(["--rows", "batch", "--workers", "1", "--seconds", "2"])
    data = json.loads((tmp_path / "load-partial.json").read_text())
    rows = data["rows"]
    assert [(r["traffic"], r["workers"], r["errors"]) for r in rows] == [
        ("batch 256 iou", 1, 0),
        ("batch 256 iou, client (details: false, MessagePack)", 1, 0),
        ("batch 256 iou, MessagePack", 1, 0),
    ]
    for row in rows:
        assert len(row["rounds"]) == bench_load.BATCH_ROUNDS
        assert row["interleaved requests"] > 0
        for way in bench_load.IN_PROCESS:
            assert row[f"in-process {way} calls"] > 0
            # One thread, nothing else running while it does: about one core (the CPU figures stand for time).
            assert 0.5 < row[f"in-process {way} cores"] <= 1.01
            cpu_ratio = row[f"in-process {way} CPU µs/item"] / row["server CPU µs/item"]
            assert row[f"CPU vs in-process {way}"] == pytest.approx(cpu_ratio)
            # Throughput: the server's cores (from the uninterrupted run) over its CPU per item.
            assert row[f"vs in-process {way}"] == pytest.approx(row["server cores"] * cpu_ratio)
        for r in row["rounds"]:
            assert r["server CPU µs/req"] > 0 and r["in-process dicts CPU µs/call"] > 0
        key = f"{row['traffic']} http (1 worker(s)) vs in-process (dicts)"
        assert data["ratios"][key] == row["vs in-process dicts"]
    assert gc.get_freeze_count() == 0, "the in-process rounds unfreeze what they froze"


def test_the_server_is_measured_once_its_processes_have_settled() -> None:
    """A process still starting (here: busy for ~0.6 s, then idle) is waited for."""
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\ntime.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", busy])
    try:
        time.sleep(0.05)
        bench_load.wait_settled(proc.pid, timeout=30, quiet_s=0.2)
        assert bench_load.tree_cpu_seconds(proc.pid) >= 0.5, "returned while the process was still busy"
    finally:
        proc.kill()
        proc.wait()

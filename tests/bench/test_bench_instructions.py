"""Smoke test of the instruction-count benchmark: valgrind counts the in-process loop and the app
for a few calls, and each way's cost per item comes from the difference of two processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_instructions, report


def test_instructions_per_item_in_process_and_through_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    bench_instructions.main(["--calls", "1,3", "--ways", "in-process,app", "--json", "smoke"])
    data = json.loads((tmp_path / "smoke.json").read_text())
    rows = {r["way"]: r for r in data["rows"]}
    assert list(rows) == ["in-process", "app"]
    inproc, app = rows["in-process"]["instructions/item"], rows["app"]["instructions/item"]
    # The scorer alone is thousands of instructions per box item; the app adds decoding,
    # limits and the response on top of the same scorer.
    assert 5_000 < inproc < app < 10 * inproc
    assert rows["app"]["in-process / this"] == round(inproc / app, 3)


def test_the_ways_and_call_counts_are_checked() -> None:
    with pytest.raises(SystemExit):
        bench_instructions.main(["--ways", "in-process,elsewhere"])
    with pytest.raises(SystemExit):
        bench_instructions.main(["--calls", "5,5"])

"""Smoke test of the instruction-count benchmark: valgrind counts the in-process loop and the app
for a few calls, and each way's cost per item comes from the difference of two processes."""

from __future__ import annotations

import json
import subprocess
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
    assert not any("," in way for way in bench_instructions.WAYS), "--ways takes them comma-separated"
    with pytest.raises(SystemExit):
        bench_instructions.main(["--ways", "in-process,elsewhere"])
    with pytest.raises(SystemExit):
        bench_instructions.main(["--calls", "5,5"])


@pytest.mark.parametrize("stage", bench_instructions.STAGES)
def test_each_stage_runs_the_apps_own_functions(stage: str, tmp_path: Path) -> None:
    # Without valgrind: the harness itself, as the counted processes run it (it raises when the
    # lean decoder refuses the body, or a stage's function fails).
    env = bench_instructions.harness_env(tmp_path / "runs.db")
    argv = bench_instructions.harness_argv(stage, 2)
    done = subprocess.run(argv, env=env, cwd=bench_instructions.ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

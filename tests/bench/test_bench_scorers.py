"""Smoke test of the scorer benchmark: it runs, measures every reward asked for, and flags slow inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bench_scorers, report


def test_bench_runs_and_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    bench_scorers.main(["--rewards", "format,length", "--batches", "1,8", "--quick", "--no-pin", "--json", "smoke"])
    data = json.loads((tmp_path / "smoke.json").read_text())
    assert [r["reward"] for r in data["throughput"]] == ["format", "length"]
    assert all(r["wall @8"] > 0 and r["cpu @8"] > 0 for r in data["throughput"])
    patho = data["pathological"]
    assert {r["input"] for r in patho} == set(bench_scorers.pathological_completions())
    assert all(r["< 50 ms"] == "ok" and r["status"] == "ok" for r in patho), patho


@pytest.mark.parametrize("name", ["format", "answer", "length", "iou", "recitation", "semantic"], ids=str)
def test_factories_build_valid_items(name: str) -> None:
    """Each factory's items validate as Items and its params as the reward's params (when registered)."""
    import scorers

    make, params = bench_scorers.factory(name)
    items = scorers.registry.as_items([make(i) for i in range(bench_scorers.POOL)])
    assert len({it.completion for it in items}) > 100, "items vary, so caches do not flatter"
    if name in scorers.REGISTRY:
        scorers.get_reward(name).params.model_validate(params)

"""The schedule experiment's pieces that decide its numbers: box IoU, the arms' configs, the table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.bench_medloc_experiment import ARMS, LM_PROFILE, arm_setup, box_iou, markdown_table, summarise
from schedulers.registry import make_scheduler
from scorers.registry import score


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [((0, 0, 4, 4), (0, 0, 4, 4), 1.0), ((0, 0, 4, 4), (2, 0, 6, 4), 8 / 24), ((0, 0, 2, 2), (2, 2, 4, 4), 0.0)],
    ids=["same", "half-shifted", "touching-corners"],
)
def test_box_iou_of_pixel_boxes_with_exclusive_edges(a: tuple[int, ...], b: tuple[int, ...], iou: float) -> None:
    assert box_iou(a, b) == pytest.approx(iou)


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_is_a_valid_service_configuration(arm: str) -> None:
    scheduler, config, profile = arm_setup(arm, steps=120)
    if scheduler is None:
        assert arm == "iou" and isinstance(profile, dict)
        return
    sched = make_scheduler(scheduler, config)
    assert sched.tau == {"fixed": 0.5}.get(arm, 0.3)
    if arm == "step":
        assert [s for s, _ in config["milestones"]] == [0, 24, 48, 72, 96]


def test_summary_and_table_report_mean_and_sample_std_over_seeds(tmp_path: Path) -> None:
    def run(arm: str, seed: int, a5: float) -> dict:
        final = {"A@0.5": a5, "A@0.8": a5 / 2, "mA": a5 / 3, "mean_iou": a5, "acc": {}}
        curves = {"dead_group_rate": [0.5, 0.25, 0.0, 0.0], "tau": [0.3, 0.3, 0.45, 0.45]}
        return {"arm": arm, "seed": seed, "final": final, "curves": curves}

    runs = [run("fixed", 0, 0.5), run("fixed", 1, 0.7), run("fixed", 2, 0.6)]
    table = summarise(runs, ["fixed", "iou"])
    assert set(table) == {"fixed"}
    assert table["fixed"]["A@0.5"]["mean"] == pytest.approx(0.6)
    assert table["fixed"]["A@0.5"]["std"] == pytest.approx(0.1), "sample std (ddof=1) over seeds"
    assert table["fixed"]["dead_first_quarter"]["mean"] == pytest.approx(0.5)
    assert math.isclose(table["fixed"]["final_tau"]["mean"], 0.45)
    start = {"A@0.5": 0.1, "A@0.8": 0.0, "mA": 0.05, "mean_iou": 0.2}
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"start": start, "table": table}))
    lines = markdown_table(str(path)).splitlines()
    assert lines[2].startswith("| starting policy | 0.100 |")
    assert lines[3].startswith("| `fixed` | 0.600 ± 0.100 | 0.300 ± 0.050 |")


@pytest.mark.parametrize(
    ("completion", "answer", "fmt"),
    [
        ("No, there is no pneumothorax.", 1.0, 0.0),  # a plain sentence carries the verdict
        ("Yes, a small one.", 0.0, 0.0),
        ("I am a language model.", 0.0, 0.0),  # no verdict: 0, not a guess
        ("<think>The report says no.</think><answer>no</answer>", 1.0, 1.0),
    ],
)
def test_smollm2_profile_reads_untagged_verdicts_and_rewards_the_template_on_top(
    completion: str, answer: float, fmt: float
) -> None:
    item = {"completion": completion, "reference": "no", "kind": "closed"}
    got = {c["reward"]: score(c["reward"], [item], c.get("params"))[0].reward for c in LM_PROFILE["components"]}
    assert got == {"answer": answer, "format": fmt}

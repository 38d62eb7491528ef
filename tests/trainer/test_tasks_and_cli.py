"""Tasks (VQA, JSONL) and the train command's settings: config file, flags, errors that say what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.app.conftest import make_client
from trainer.cli import build_parser, field_docs, load_settings
from trainer.grpo import GRPOConfig
from trainer.tasks.jsonl import JSONLTask, read_examples
from trainer.tasks.vqa import VQATask


def test_vqa_targets_earn_full_reward_and_wrong_answers_do_not() -> None:
    task = VQATask(knowledge=True)
    examples = task.sample(30, np.random.default_rng(0))
    assert {ex.fields["kind"] for ex in examples} == {"closed", "mcq", "ordinal"}
    items = [ex.fields | {"completion": ex.target} for ex in examples]
    wrong = [ex.fields | {"completion": "<think>x</think><answer>C</answer>"} for ex in examples]
    with make_client() as c:
        right = c.post("/v1/score", json={"profile": task.profile, "items": items}).json()
        bad = c.post("/v1/score", json={"profile": task.profile, "items": wrong}).json()
    assert task.accuracy(right["components"], right["details"]) == [1.0] * 30, "the targets are correct"
    assert sum(task.accuracy(bad["components"], bad["details"])) < 10
    assert all(ex.prompt.startswith("Knowledge: ") and ex.fields["knowledge"] for ex in examples)


def test_jsonl_schema(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [
        {"prompt": "Is there a pneumothorax?", "reference": "no", "kind": "closed", "knowledge": "air in the pleura"},
        {"prompt": "Grade it.", "reference": "mild", "kind": "ordinal", "grades": ["none", "mild", "severe"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    task = JSONLTask(str(path))
    assert [ex.fields.get("kind") for ex in task.examples] == ["closed", "ordinal"]
    assert "knowledge" not in task.examples[0].fields, "knowledge only with --knowledge"
    assert read_examples(path, knowledge=True)[0].prompt.startswith("Knowledge: air in the pleura")
    assert len(task.sample(5, np.random.default_rng(0))) == 5 and task.scheduler is None

    path.write_text(json.dumps({"prompt": "x", "refrence": "no"}) + "\n")
    with pytest.raises(ValueError, match=r"d.jsonl:1: unknown field\(s\) refrence"):
        read_examples(path)
    path.write_text('{"reference": "no"}\n')
    with pytest.raises(ValueError, match="needs a non-empty string 'prompt'"):
        read_examples(path)


def test_jsonl_with_boxes_is_a_grounding_task(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps({"prompt": "Find it.", "boxes": [[1, 2, 3, 4]], "image_size": [8, 8]}) + "\n")
    task = JSONLTask(str(path))
    assert (task.profile, task.scheduler) == ("grounding-medloc", "medloc")


def test_settings_from_defaults_file_and_flags(tmp_path: Path) -> None:
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("steps: 7\nlr: 0.01\nadapter: mlae\ntargets: [q_proj]\nscheduler_config: {tau0: 0.2}\n")
    args = build_parser().parse_args(["--config", str(cfg_file), "--steps", "9", "--no-progress", "--rank", "4"])
    cfg, setup = load_settings(args)
    assert (cfg.steps, cfg.lr, cfg.progress, cfg.scheduler_config) == (9, 0.01, False, {"tau0": 0.2}), "flags win"
    assert (setup.adapter, setup.targets, setup.rank, setup.policy) == ("mlae", ["q_proj"], 4, "tiny-vlm")
    cfg_file.write_text("stesp: 3\n")
    with pytest.raises(SystemExit, match="unknown setting.*stesp"):
        load_settings(build_parser().parse_args(["--config", str(cfg_file)]))


def test_every_config_field_is_documented() -> None:
    docs = field_docs(GRPOConfig)
    assert set(docs) == set(GRPOConfig.__dataclass_fields__) and all(docs.values())

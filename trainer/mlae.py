"""Masked LoRA Experts (MLAE) and plain LoRA as adapters injected into a model's ``nn.Linear`` layers.

MLAE (Wang, Yang et al., arXiv 2405.18897) splits a rank-r LoRA update into r rank-1 "experts"
``ΔW = Σᵢ λᵢ bᵢ aᵢᵀ``, gives each a learnable scale λᵢ, and drops whole experts at random during
training (expert-level dropout, resampled on every forward). The paper reports VTAB-1k 78.8% and
FGVC 90.9% average accuracy, about +0.8 points over GLoRA with about half the parameters.

This module computes what the authors' ``mlae.py`` (``MLAE_Linear``) computes:

- ``A`` is (r, in) with Kaiming-uniform init (a = √5), ``B`` is (r, out) with zeros, so the adapter
  starts as the identity update; ``λ`` is (r,), learnable, initialised to ``alpha`` (not α/r);
- ``y = W₀x + b + ((x Aᵀ) ⊙ dropout(λ, p)) B``: one Bernoulli mask over the r experts per module per
  forward call, shared by every token and sample of that call; kept experts are scaled by 1/(1−p)
  (inverted dropout), so eval uses λ unscaled;
- ``merge()`` adds ``Σᵢ λᵢ bᵢ aᵢᵀ`` to W for fast inference, ``unmerge()`` takes it back out.

`LoRALinear` is plain LoRA (B (out, r) zeros, A (r, in) Kaiming, scale α/r) behind the same
injection, for comparisons at equal rank.

>>> import torch
>>> layer = MLAELinear(torch.nn.Linear(4, 3), r=2, alpha=1.0, p=0.0)
>>> [n for n, p in layer.named_parameters() if p.requires_grad]
['lora_A', 'lora_B', 'lora_lambda']
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Kind = Literal["mlae", "lora"]


class _Adapter(nn.Module):
    """A frozen base ``nn.Linear`` plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, r: int) -> None:
        super().__init__()
        if r < 1:
            raise ValueError(f"rank r must be >= 1, got {r}")
        self.base = base
        self.r = r
        self.merged = False
        self.disabled = False  # True: the base layer alone (the frozen reference policy, for the KL term)
        for p in self.base.parameters():
            p.requires_grad_(False)

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The update ΔW, (out, in), as merged into W."""
        raise NotImplementedError

    def adapter_out(self, x: torch.Tensor) -> torch.Tensor:
        """The update's output for ``x`` (..., in) → (..., out), with training-time masking."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.disabled:
            if self.merged:
                raise RuntimeError("unmerge the adapters before disabling them")
            return y
        if self.merged:
            return y
        return y + self.adapter_out(x)

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ΔW into the base weight (inference); forward then skips the adapter."""
        if not self.merged:
            self.base.weight += self.delta_weight().to(self.base.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take ΔW back out of the base weight (before training again)."""
        if self.merged:
            self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
            self.merged = False


class MLAELinear(_Adapter):
    """``y = W₀x + b + ((x Aᵀ) ⊙ dropout(λ, p)) B`` with r rank-1 experts (see the module docstring).

    Args:
        base: the layer to adapt; its weight and bias are frozen.
        r: number of rank-1 experts.
        alpha: initial value of every expert's scale λᵢ (the authors' ``lora_alpha``; no division by r).
        p: expert drop probability during training (the authors' ``drop_rate``).
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 1.0, p: float = 0.1) -> None:
        super().__init__(base, r)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"expert drop probability p must be in [0, 1), got {p}")
        self.p = p
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(r, base.out_features, dtype=w.dtype, device=w.device))
        self.lora_lambda = nn.Parameter(torch.full((r,), float(alpha), dtype=w.dtype, device=w.device))
        # LoRA's (and the authors') init: A Kaiming-uniform with a = √5, B zeros → ΔW = 0 at start.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def expert_scales(self) -> torch.Tensor:
        """λ after this forward's expert mask, (r,): 0 for dropped experts, λᵢ/(1−p) for kept ones."""
        return F.dropout(self.lora_lambda, p=self.p, training=self.training)

    def adapter_out(self, x: torch.Tensor) -> torch.Tensor:
        h = x @ self.lora_A.T  # (..., r): each expert's coefficient aᵢᵀx
        return (h * self.expert_scales()) @ self.lora_B  # (..., out)

    def delta_weight(self) -> torch.Tensor:
        # Σᵢ λᵢ bᵢ aᵢᵀ: (out, in); no mask and no 1/(1−p) (inverted dropout keeps the expectation).
        return torch.einsum("ro,ri,r->oi", self.lora_B, self.lora_A, self.lora_lambda)


class LoRALinear(_Adapter):
    """Plain LoRA: ``y = W₀x + b + (α/r)·B A x`` (Hu et al. 2021), B (out, r) zeros, A (r, in) Kaiming."""

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0) -> None:
        super().__init__(base, r)
        w = base.weight
        self.scaling = alpha / r
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)

    def adapter_out(self, x: torch.Tensor) -> torch.Tensor:
        return (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling  # (..., out)

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_B @ self.lora_A) * self.scaling  # (out, in)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    """A pattern starting with ``re:`` is a regex searched in the name; anything else is a glob on the
    full dotted name or on its last part.

    >>> _matches("model.layers.0.self_attn.q_proj", ["q_proj"]), _matches("lm_head", ["re:proj$"])
    (True, False)
    """
    for pat in patterns:
        if pat.startswith("re:"):
            if re.search(pat[3:], name):
                return True
        elif fnmatch.fnmatchcase(name, pat) or fnmatch.fnmatchcase(name.rsplit(".", 1)[-1], pat):
            return True
    return False


def inject_adapters(
    model: nn.Module,
    targets: Iterable[str],
    *,
    kind: Kind = "mlae",
    r: int = 8,
    alpha: float | None = None,
    p: float = 0.1,
) -> list[str]:
    """Replace the ``nn.Linear`` layers whose names match ``targets`` with adapters; freeze everything else.

    Args:
        model: the model, changed in place.
        targets: name patterns (globs such as ``"q_proj"`` or ``"*.attn.*"``, or ``"re:<regex>"``).
        kind: ``"mlae"`` (masked experts) or ``"lora"`` (plain LoRA at the same rank).
        r: rank (MLAE: number of experts).
        alpha: MLAE's initial λ (default 1.0) or LoRA's α (default 2r, a common choice, so α/r = 2).
        p: MLAE's expert drop probability (unused by LoRA).

    Returns:
        The dotted names of the adapted layers (ValueError if none matched).
    """
    patterns = list(targets)
    chosen = [
        name for name, mod in model.named_modules() if isinstance(mod, nn.Linear) and name and _matches(name, patterns)
    ]
    if not chosen:
        raise ValueError(f"no nn.Linear layer matches {patterns}")
    for p_ in model.parameters():
        p_.requires_grad_(False)
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = getattr(parent, child)
        adapter: _Adapter
        if kind == "mlae":
            adapter = MLAELinear(base, r=r, alpha=1.0 if alpha is None else alpha, p=p)
        elif kind == "lora":
            adapter = LoRALinear(base, r=r, alpha=2.0 * r if alpha is None else alpha)
        else:
            raise ValueError(f"unknown adapter kind {kind!r} (use 'mlae' or 'lora')")
        setattr(parent, child, adapter)
    return chosen


def adapters(model: nn.Module) -> list[_Adapter]:
    """Every adapter in ``model``."""
    return [m for m in model.modules() if isinstance(m, _Adapter)]


def merge_adapters(model: nn.Module) -> None:
    """Fold every adapter into its base weight (for evaluation or export)."""
    for a in adapters(model):
        a.merge()


def unmerge_adapters(model: nn.Module) -> None:
    """Undo `merge_adapters` (before training again)."""
    for a in adapters(model):
        a.unmerge()


@contextmanager
def adapters_disabled(model: nn.Module) -> Iterator[None]:
    """Run ``model`` as its frozen base inside the block (the reference policy costs no second copy)."""
    found = adapters(model)
    for a in found:
        a.disabled = True
    try:
        yield
    finally:
        for a in found:
            a.disabled = False


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapters' trainable tensors (what a checkpoint needs beside the base model)."""
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}

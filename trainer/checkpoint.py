"""Checkpoints: the trainable weights, the optimiser, the KL reference and the run's schedule state.

The schedule state (τ, window with raw IoUs, raises) comes from ``GET /v1/runs/{id}/state`` and goes
back with ``PUT /v1/runs/{id}/state`` on resume, so a resumed run continues the same curriculum
instead of restarting it at τ₀.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from trainer.policies.base import Policy


def _trainable(policy: Policy) -> dict[str, torch.Tensor]:
    # Only what training changes: adapters when the base is frozen (a few MB, not the whole LM).
    return {k: v.detach().clone() for k, v in policy.model.named_parameters() if v.requires_grad}


def save_checkpoint(
    path: Path, step: int, policy: Policy, opt: torch.optim.Optimizer, schedule: dict[str, Any] | None
) -> None:
    """Write ``path`` (torch) and, beside it, the schedule as readable JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    reference = getattr(policy, "reference", None)
    doc = {
        "step": step,
        "trainable": _trainable(policy),
        "optimizer": opt.state_dict(),
        "reference": reference.state_dict() if isinstance(reference, torch.nn.Module) else None,
        "schedule": schedule,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(doc, tmp)
    tmp.replace(path)  # a crash mid-write never leaves a truncated checkpoint under the real name
    if schedule is not None:
        path.with_suffix(".schedule.json").write_text(json.dumps(schedule, indent=1))


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The checkpoint with the highest step under ``out_dir/checkpoints``."""
    found = sorted(Path(out_dir, "checkpoints").glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
    return found[-1] if found else None


def load_checkpoint(path: str | Path, policy: Policy, opt: torch.optim.Optimizer) -> tuple[int, dict[str, Any] | None]:
    """Restore weights, optimiser and reference; returns (step, schedule state or None)."""
    doc = torch.load(path, map_location="cpu", weights_only=False)
    trainable = dict(policy.model.named_parameters())
    missing = [k for k in doc["trainable"] if k not in trainable]
    if missing:
        raise ValueError(f"checkpoint {path} does not fit this policy: unknown parameters {missing[:3]}")
    with torch.no_grad():
        for k, v in doc["trainable"].items():
            trainable[k].copy_(v)
    opt.load_state_dict(doc["optimizer"])
    policy.freeze_reference()  # adapters: the frozen base itself; a full copy is overwritten next
    reference = getattr(policy, "reference", None)
    if doc.get("reference") is not None and isinstance(reference, torch.nn.Module):
        reference.load_state_dict(doc["reference"])  # the warm-started policy, not the resumed one
    return int(doc["step"]), doc.get("schedule")

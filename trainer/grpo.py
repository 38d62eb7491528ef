"""GRPO through the reward service, in one readable file (cleanrl style).

Each step: draw ``prompts_per_step`` prompts, sample ``group_size`` completions of each, send all of
them to the service in **one** ``score`` call (with ``run_id``, ``step``, ``request_id`` and a
``group`` per item, so that a server-side schedule such as MedLoc-R1's τ sees whole groups and a
retry is idempotent), turn the rewards into group-relative advantages, and take one optimiser step
on the PPO-clip objective with a KL penalty to a frozen reference policy.

- Advantages (`group_advantages`): ``grpo`` (r − mean)/(std + ε), DeepSeekMath's GRPO with TRL's
  ε = 1e-4 and unbiased std; ``dr_grpo`` r − mean (Dr. GRPO, Liu et al. arXiv 2503.20783, the bias fix
  Zhu et al. arXiv 2505.13973 apply to medical VQA: no std division, which favours too-easy and
  too-hard questions).
- Items the service abstains on (reward None) are left out of their group's mean and std and get
  advantage 0 (TRL's treatment of NaN rewards); a group whose rewards are all equal teaches
  nothing (all advantages 0): its share is the *dead-group rate*, which MedLoc-R1 exists to reduce.
- Loss (`grpo_loss`): per token ``−min(ρA, clip(ρ, 1−ε, 1+ε)A) + β·KL``, KL by the k3 estimator
  ``exp(ref−logp) − (ref−logp) − 1`` (Schulman's unbiased, positive estimator, as in GRPO); ``grpo``
  averages tokens within each completion, then completions; ``dr_grpo`` sums tokens and divides by a
  constant (completions × max tokens), removing the per-length averaging that favours long wrong answers.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.policies.base import Policy, Rollout
from trainer.tasks.base import Task, service_ious

Advantage = Literal["grpo", "dr_grpo"]


@dataclass
class GRPOConfig:
    steps: int = 50
    """Optimiser steps of GRPO."""
    prompts_per_step: int = 8
    """Prompts drawn per step (B)."""
    group_size: int = 8
    """Completions sampled per prompt (G; MedLoc-R1 and Zhu et al. use 8)."""
    temperature: float = 1.0
    """Sampling temperature (log-probabilities are taken at the same temperature)."""
    advantage: Advantage = "grpo"
    """``grpo``: (r − mean)/(std + ε); ``dr_grpo``: r − mean and constant loss normalisation."""
    adv_eps: float = 1e-4
    """ε of the std division (TRL's value)."""
    clip_eps: float = 0.2
    """PPO clip range ε (PPO's and TRL's default)."""
    kl_beta: float = 0.04
    """Weight β of the KL penalty to the reference (TRL's former default 0.04; MedLoc-R1 reports 0.4)."""
    ppo_epochs: int = 1
    """Optimiser passes over each step's samples; 1 makes the ratio exactly 1 (GRPO's usual setting)."""
    grad_accum: int = 1
    """Micro-batches per step (gradient accumulation; same result, less memory)."""
    lr: float = 1e-3
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping by global norm."""
    max_tokens: int = 64
    """Completion token budget; also Dr. GRPO's normalising constant."""
    sft_steps: int = 0
    """Supervised warm-start steps on the task's targets before GRPO (VRFT-Aug's behavioural imitation)."""
    sft_batch: int = 16
    """Examples per warm-start step."""
    sft_lr: float = 3e-3
    """Warm-start learning rate."""
    perception_steps: int = 0
    """First GRPO steps on the box task before the main task (VRFT-Aug's perception-driven refinement)."""
    seed: int = 0
    """Seeds prompts (per step, so a resumed run sees the same prompts) and sampling."""
    run_id: str = ""
    """The service run that holds the schedule (generated when empty)."""
    scheduler_config: dict[str, Any] = field(default_factory=dict)
    """Config of the run's scheduler (e.g. ``{"tau0": 0.3}``); defaults are the service's."""
    out_dir: str = "runs/grpo"
    """Where metrics.jsonl, the plot and checkpoints go."""
    save_every: int = 25
    """Checkpoint every this many steps (and at the end)."""
    progress: bool = True
    """Show a tqdm progress bar."""


# ------------------------------------------------------------------------------------------------
# The maths: small pure functions (tested against hand-computed values in tests/trainer)
# ------------------------------------------------------------------------------------------------
def group_advantages(
    rewards: torch.Tensor, kind: Advantage = "grpo", eps: float = 1e-4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-relative advantages and which groups are dead.

    Args:
        rewards: (B, G), NaN where the service abstained.
        kind: ``grpo`` or ``dr_grpo``.
        eps: added to the std (``grpo``).

    Returns:
        advantages (B, G), 0 for abstained items; dead (B,) bool: every scored reward equal.

    >>> a, dead = group_advantages(torch.tensor([[1.0, 0.0, float("nan"), 1.0], [0.5, 0.5, 0.5, 0.5]]))
    >>> [round(v, 3) for v in a[0].tolist()], dead.tolist()
    ([0.577, -1.155, 0.0, 0.577], [False, True])
    """
    if kind not in ("grpo", "dr_grpo"):
        raise ValueError(f"unknown advantage {kind!r} (use 'grpo' or 'dr_grpo')")
    valid = ~torch.isnan(rewards)  # (B, G)
    n = valid.sum(dim=1, keepdim=True)  # (B, 1)
    r = torch.where(valid, rewards, torch.zeros_like(rewards))
    mean = r.sum(dim=1, keepdim=True) / n.clamp(min=1)
    centred = torch.where(valid, rewards - mean, torch.zeros_like(rewards))
    # unbiased std over the scored items (torch.std's default, as TRL uses); 0 with fewer than two
    var = (centred**2).sum(dim=1, keepdim=True) / (n - 1).clamp(min=1)
    std = var.sqrt()
    dead = (centred.abs().amax(dim=1) <= 1e-12) | (n.squeeze(1) < 2)
    adv = centred / (std + eps) if kind == "grpo" else centred
    return adv, dead


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(π‖π_ref) estimate k3 = e^(ref−logp) − (ref−logp) − 1 ≥ 0 (0 where the two agree).

    >>> round(k3_kl(torch.tensor([-1.0]), torch.tensor([-2.0])).item(), 4)  # e^-1 + 1 - 1
    0.3679
    """
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    kind: Advantage = "grpo",
    clip_eps: float = 0.2,
    beta: float = 0.04,
    n_total: int | None = None,
    max_tokens: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped surrogate with a KL penalty, over (N, T) token log-probabilities.

    Args:
        logp, old_logp, ref_logp: (N, T) under the current, sampling and reference policies.
        advantages: (N,), one per completion, shared by its tokens.
        mask: (N, T), 1 on completion tokens.
        kind: ``grpo`` (mean over each completion's tokens, then over completions) or ``dr_grpo``
            (sum over tokens, divided by ``n_total * max_tokens``).
        n_total: completions in the whole step (micro-batches divide by the step's count, so that
            accumulated gradients equal the full batch's); default N.
        max_tokens: Dr. GRPO's constant; default T.

    Returns:
        the loss (to minimise) and statistics (mean KL, clipped fraction).
    """
    n_total = n_total or logp.shape[0]
    ratio = torch.exp(logp - old_logp)  # (N, T)
    adv = advantages[:, None]  # (N, 1)
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    per_token = -surrogate
    kl = k3_kl(logp, ref_logp) if ref_logp is not None else torch.zeros_like(logp)
    if beta:
        per_token = per_token + beta * kl
    tokens = mask.sum()
    if kind == "grpo":
        per_seq = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # (N,)
        loss = per_seq.sum() / n_total
    else:
        loss = (per_token * mask).sum() / (n_total * (max_tokens or logp.shape[1]))
    clipped = ((ratio - 1).abs() > clip_eps).float()
    stats = {
        "kl": float((kl.detach() * mask).sum() / tokens.clamp(min=1)),
        "clip_frac": float((clipped * mask).sum() / tokens.clamp(min=1)),
    }
    return loss, stats


# ------------------------------------------------------------------------------------------------
# One step
# ------------------------------------------------------------------------------------------------
def score_rollout(
    client: Any,
    task: Task,
    examples: Sequence[Any],
    rollout: Rollout,
    step: int,
    cfg: GRPOConfig,
    profile: str | dict[str, Any],
) -> dict[str, Any]:
    """One batched ``score`` call for the whole step; rewards (B, G) with NaN for abstentions."""
    g = cfg.group_size
    items = []
    for s in rollout.samples:
        ex = examples[s.prompt_index]
        items.append(
            {**ex.fields, "completion": s.text, "group": f"{step}-{s.prompt_index}", "num_tokens": len(s.token_ids)}
        )
    scheduled = task.scheduler is not None
    result = client.score(
        items,
        profile,
        run_id=cfg.run_id if scheduled else None,
        step=step,
        request_id=f"{cfg.run_id}-step{step}",  # a retried step replays, never double-counts
    )
    rewards = torch.tensor([math.nan if r is None else r for r in result.rewards], dtype=torch.float32)
    return {
        "rewards": rewards.view(-1, g),
        "accuracy": task.accuracy(result.components, result.details),
        "ious": service_ious(result.details),
        "tau": (result.schedule or {}).get("tau"),
    }


def sft_warm_start(policy: Policy, task: Task, cfg: GRPOConfig, log: Callable[[str], None]) -> None:
    """Behavioural imitation: a few supervised steps on the task's target completions."""
    opt = torch.optim.AdamW([p for p in policy.model.parameters() if p.requires_grad], lr=cfg.sft_lr)
    rng = np.random.default_rng((cfg.seed, 10**9))  # its own stream, apart from the GRPO steps' prompts
    policy.model.train()  # from_pretrained leaves HF models in eval mode: MLAE's expert masks apply here too
    loss = torch.tensor(0.0)
    for _ in range(cfg.sft_steps):
        loss = policy.sft_loss(task.sample(cfg.sft_batch, rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
    log(f"SFT warm start: {cfg.sft_steps} steps, final loss {loss.item():.3f}")


# ------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------
def train(
    cfg: GRPOConfig,
    policy: Policy,
    task: Task,
    client: Any,
    *,
    profile: str | dict[str, Any] | None = None,
    perception_task: Task | None = None,
    resume: str | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run GRPO for ``cfg.steps`` steps; returns the per-step metrics (also appended to metrics.jsonl)."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.run_id = cfg.run_id or f"grpo-{uuid.uuid4().hex[:10]}"
    params = [p for p in policy.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0

    # ---- the run's schedule: restored from a checkpoint, or created fresh --------------------
    if resume:
        start, schedule = load_checkpoint(resume, policy, opt)
        if schedule is not None:
            client.restore_run_state(cfg.run_id, schedule)
        log(f"resumed from {resume} at step {start}" + (f", τ = {schedule['state'].get('tau')}" if schedule else ""))
    else:
        for t in {id(x): x for x in (task, perception_task) if x is not None}.values():
            if t.scheduler is not None:
                client.create_run(cfg.run_id, t.scheduler, cfg.scheduler_config)
                break
        if cfg.sft_steps:
            sft_warm_start(policy, perception_task or task, cfg, log)
        policy.freeze_reference()
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    history: list[dict[str, Any]] = []
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not cfg.progress, desc="GRPO")
    with (out / "metrics.jsonl").open("a") as metrics_file:
        for step in bar:
            t0 = time.perf_counter()
            stage = perception_task if perception_task is not None and step < cfg.perception_steps else task
            stage_profile = profile if (profile is not None and stage is task) else stage.profile

            # ---- 1. rollouts: B prompts × G completions -------------------------------------
            rng = np.random.default_rng((cfg.seed, step))
            torch.manual_seed(cfg.seed * 1_000_003 + step)
            examples = stage.sample(cfg.prompts_per_step, rng)
            policy.model.eval()
            rollout = policy.generate(examples, cfg.group_size, cfg.temperature)  # N = B*G samples

            # ---- 2. rewards from the service: one batched call --------------------------------
            t1 = time.perf_counter()
            scored = score_rollout(client, stage, examples, rollout, step, cfg, stage_profile)
            t_score = time.perf_counter() - t1
            adv, dead = group_advantages(scored["rewards"], cfg.advantage, cfg.adv_eps)  # (B, G), (B,)
            adv = adv.flatten()  # (N,) prompt-major, as the rollout

            # ---- 3. policy update: PPO-clip + KL, gradient accumulation -------------------------
            policy.model.train()
            with torch.no_grad():
                ref = policy.ref_logprobs(rollout, cfg.temperature) if cfg.kl_beta else None  # (N, T)
                old = policy.logprobs(rollout, cfg.temperature) if cfg.ppo_epochs > 1 else None
            n = len(rollout)
            chunks = torch.arange(n).chunk(cfg.grad_accum)
            stats: dict[str, float] = {"loss": 0.0, "kl": 0.0, "clip_frac": 0.0}
            grad_norm = 0.0
            for _ in range(cfg.ppo_epochs):
                opt.zero_grad()
                for rows in chunks:
                    part = rollout.select(rows)
                    logp = policy.logprobs(part, cfg.temperature)  # (n, T)
                    old_part = old[rows] if old is not None else logp.detach()
                    loss, s = grpo_loss(
                        logp, old_part, ref[rows] if ref is not None else None, adv[rows], part.mask,
                        kind=cfg.advantage, clip_eps=cfg.clip_eps, beta=cfg.kl_beta,
                        n_total=n, max_tokens=cfg.max_tokens,
                    )  # fmt: skip
                    loss.backward()
                    stats["loss"] += loss.item() / cfg.ppo_epochs
                    for k in ("kl", "clip_frac"):
                        stats[k] += s[k] * len(rows) / n / cfg.ppo_epochs
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
                opt.step()

            # ---- 4. metrics, progress, checkpoints -------------------------------------------
            rewards = scored["rewards"]
            ious = [v for v in scored["ious"] if v is not None]
            row = {
                "step": step,
                "task": stage.name,
                "reward": float(torch.nanmean(rewards)) if (~torch.isnan(rewards)).any() else None,
                "reward_std": float(np.nanstd(rewards.numpy())) if (~torch.isnan(rewards)).any() else None,
                "accuracy": float(np.mean(scored["accuracy"])) if scored["accuracy"] else None,
                "iou": float(np.mean(ious)) if ious else None,
                "tau": scored["tau"],
                "dead_group_rate": float(dead.float().mean()),
                "abstain_rate": float(torch.isnan(rewards).float().mean()),
                "grad_norm": grad_norm,
                "score_time_s": t_score,
                "step_time_s": time.perf_counter() - t0,
                **stats,
            }
            history.append(row)
            metrics_file.write(json.dumps(row) + "\n")
            metrics_file.flush()
            bar.set_postfix(
                reward=f"{row['reward'] or 0:.3f}", acc=f"{row['accuracy'] or 0:.2f}",
                dead=f"{row['dead_group_rate']:.2f}", tau=row["tau"],
            )  # fmt: skip
            if (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps:
                schedule = client.export_run_state(cfg.run_id) if _has_run(task, perception_task) else None
                save_checkpoint(out / "checkpoints" / f"step-{step + 1}.pt", step + 1, policy, opt, schedule)
    return history


def _has_run(*tasks: Task | None) -> bool:
    return any(t is not None and t.scheduler is not None for t in tasks)

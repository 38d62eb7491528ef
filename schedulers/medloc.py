"""MedLoc-R1's performance-aware IoU threshold schedule (arXiv 2603.28120, CVPR 2026).

Reward ``1[IoU ≥ τ]``. A window of the last N group entries (group-mean reward, group-mean
IoU) gives three statistics; τ rises by δ(τ) only when the window is full and all three
conditions hold (``reference/papers.md`` §1.3–1.5)::

    mean_reward ≥ P(τ)   and   std(group-mean rewards) ≤ S(τ)   and   mean_iou − τ ≥ Δ

After a raise the oldest half of the window is dropped (the paper's semi-preserved refresh).
Every constant is a config field; sources are cited on each. The P/S stage table, the
piecewise boundaries β and δ₀ come from a third-party port of the method, not the paper.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schedulers.scheduler import EPS, TAU_DECIMALS, Scheduler, SchedulerConfig


class Stage(BaseModel):
    """One row of the P/S table: from ``min_tau`` upwards, need hit rate ≥ P and std ≤ S."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_tau: float = Field(ge=0.0, le=1.0)
    min_reward: float = Field(ge=0.0, le=1.0, description="P(τ): minimum window mean reward (hit rate).")
    max_std: float = Field(ge=0.0, le=1.0, description="S(τ): maximum std of the group-mean rewards.")


# [PORT] papers.md §1.4: accept_stages ((0.75, 0.55, 0.40), (0.60, 0.75, 0.35), (0.00, 0.80, 0.20));
# P is relaxed and S widened as τ rises, as the paper describes, but the numbers are the porter's.
DEFAULT_STAGES = (
    Stage(min_tau=0.75, min_reward=0.55, max_std=0.40),
    Stage(min_tau=0.60, min_reward=0.75, max_std=0.35),
    Stage(min_tau=0.00, min_reward=0.80, max_std=0.20),
)


# The run record holds the P/S table and every raise, and each report rewrites the record:
# bounded so that no config makes a record (and every report on it) arbitrarily large. A step
# below MIN_STEP moves τ by less than a thousandth of IoU: linear/cosine δ, which shrink towards
# τ_target, finish with one step to τ_target instead of ever smaller ones (a bounded number of
# raises), and piecewise δ may not be set below it.
MAX_STAGES = 16
MIN_STEP = 0.001


class MedLocConfig(SchedulerConfig):
    """MedLoc-R1 schedule config; defaults are the paper's (or its port's, where marked)."""

    tau0: float = Field(default=0.3, ge=0.0, le=1.0, description="Initial τ (MedLoc-R1: τ₀=0.3).")
    tau_target: float = Field(default=0.8, ge=0.0, le=1.0, description="Final τ (MedLoc-R1: τ_target=0.8).")
    margin: float = Field(default=0.10, ge=-1.0, le=1.0, description="Δ: required mean_iou − τ (MedLoc-R1: 0.10).")
    stages: tuple[Stage, ...] = Field(
        default=DEFAULT_STAGES,
        min_length=1,
        max_length=MAX_STAGES,
        description="P/S table, first row with τ ≥ min_tau wins (third-party port, papers.md §1.4).",
    )
    decay: Literal["piecewise", "linear", "cosine"] = Field(
        default="piecewise", description="δ(τ) form (MedLoc-R1: piecewise; linear/cosine perform about as well)."
    )
    delta1: float = Field(default=0.15, ge=MIN_STEP, le=1.0, description="Piecewise δ below beta1 (MedLoc-R1: 0.15).")
    delta2: float = Field(
        default=0.10, ge=MIN_STEP, le=1.0, description="Piecewise δ in [beta1, beta2) (MedLoc-R1: 0.10)."
    )
    delta3: float = Field(default=0.05, ge=MIN_STEP, le=1.0, description="Piecewise δ from beta2 (MedLoc-R1: 0.05).")
    beta1: float = Field(default=0.55, ge=0.0, le=1.0, description="First piecewise boundary (port: 0.55).")
    beta2: float = Field(default=0.75, ge=0.0, le=1.0, description="Second piecewise boundary (port: 0.75).")
    delta0: float = Field(
        default=0.2, ge=MIN_STEP, le=1.0, description="Initial δ of linear/cosine decay (port: 0.2)."
    )
    min_fill: int | None = Field(
        default=None, ge=1, description="Entries needed before any raise; None = the full window (port)."
    )
    keep: int | None = Field(
        default=None, ge=0, description="Entries kept after a raise; None = ⌊N/2⌋ (semi-preserved refresh)."
    )
    rescore_kept: bool = Field(
        default=False, description="Re-score kept entries under the new τ from their raw IoUs (port: keep as is)."
    )
    check_reward: bool = Field(default=True, description="Require mean_reward ≥ P(τ) (off only for ablations).")
    check_stability: bool = Field(default=True, description="Require std ≤ S(τ) (off only for ablations).")
    check_margin: bool = Field(default=True, description="Require mean_iou − τ ≥ Δ (off only for ablations).")

    @model_validator(mode="after")
    def _consistent(self) -> MedLocConfig:
        if self.tau_target < self.tau0:
            raise ValueError("tau_target must be ≥ tau0")
        if self.beta2 < self.beta1:
            raise ValueError("beta2 must be ≥ beta1")
        if min(s.min_tau for s in self.stages) > self.tau0:
            raise ValueError("stages must cover tau0 (add a row with min_tau ≤ tau0)")
        if self.min_fill is not None and self.min_fill > self.window:
            raise ValueError("min_fill must be ≤ window")
        if self.keep is not None and self.keep >= self.window:
            raise ValueError("keep must be < window")
        return self


def next_delta(tau: float, cfg: MedLocConfig) -> float:
    """δ(τ): the step a raise takes from ``tau`` (papers.md §1.5, the port's formulas).

    >>> cfg = MedLocConfig()
    >>> [next_delta(t, cfg) for t in (0.3, 0.45, 0.6, 0.7, 0.75)]
    [0.15, 0.15, 0.1, 0.1, 0.05]
    """
    if cfg.decay == "piecewise":
        if tau >= cfg.beta2 - EPS:
            return cfg.delta3
        if tau >= cfg.beta1 - EPS:
            return cfg.delta2
        return cfg.delta1
    span = cfg.tau_target - cfg.tau0
    progress = 1.0 if span <= 0 else min(max((tau - cfg.tau0) / span, 0.0), 1.0)
    if cfg.decay == "linear":
        return cfg.delta0 * (1.0 - progress)
    return 0.5 * cfg.delta0 * (1.0 + math.cos(math.pi * progress))


def stage_for(tau: float, cfg: MedLocConfig) -> Stage:
    """The P/S row for ``tau``: the first, in descending min_tau order, with τ ≥ min_tau."""
    for stage in sorted(cfg.stages, key=lambda s: s.min_tau, reverse=True):
        if tau >= stage.min_tau - EPS:
            return stage
    return min(cfg.stages, key=lambda s: s.min_tau)


class MedLocScheduler(Scheduler):
    """MedLoc-R1: raise τ when the policy is accurate, stable and has margin.

    >>> from schedulers.base import GroupReport
    >>> s = MedLocScheduler(MedLocConfig(window=2, min_fill=2))
    >>> [s.report([GroupReport("p", [0.5, 0.6])])[0].raised for _ in range(2)], s.tau
    ([False, True], 0.45)
    """

    name: ClassVar[str] = "medloc"
    config_model: ClassVar[type[SchedulerConfig]] = MedLocConfig
    config: MedLocConfig

    def initial_tau(self) -> float:
        return self.config.tau0

    def conditions(self) -> dict[str, Any]:
        """The three statistics, their thresholds at the current τ, and which conditions hold."""
        cfg = self.config
        stats = self.window.stats()
        stage = stage_for(self.tau, cfg)
        out: dict[str, Any] = {
            "min_reward": stage.min_reward,
            "max_std": stage.max_std,
            "min_margin": cfg.margin,
            "min_fill": cfg.min_fill or cfg.window,
        }
        if stats is None:
            return out | {"reward_ok": False, "stability_ok": False, "margin_ok": False, "fill_ok": False}
        return out | {
            "reward_ok": stats.mean_reward >= stage.min_reward - EPS,
            "stability_ok": stats.std_reward <= stage.max_std + EPS,
            "margin_ok": stats.mean_iou - self.tau >= cfg.margin - EPS,
            "fill_ok": stats.size >= (cfg.min_fill or cfg.window),
        }

    def after_group(self, step: int, group: str) -> bool:
        cfg = self.config
        if self.tau >= cfg.tau_target - EPS:
            return False
        cond = self.conditions()
        if not cond["fill_ok"]:
            return False
        if (
            (cfg.check_reward and not cond["reward_ok"])
            or (cfg.check_stability and not cond["stability_ok"])
            or (cfg.check_margin and not cond["margin_ok"])
        ):
            return False
        delta = next_delta(self.tau, cfg)
        if delta < MIN_STEP:  # linear/cosine δ decayed to nothing: the last raise reaches τ_target
            delta = cfg.tau_target - self.tau
        new_tau = round(min(self.tau + delta, cfg.tau_target), TAU_DECIMALS)
        if new_tau <= self.tau:
            return False  # δ decayed to nothing: nowhere left to go
        stats = self.window.stats()
        assert stats is not None  # fill_ok implies entries
        tau_before, self.tau = self.tau, new_tau
        self.record_raise(
            step,
            group,
            tau_before,
            mean_reward=stats.mean_reward,
            std_reward=stats.std_reward,
            mean_iou=stats.mean_iou,
            margin=stats.mean_iou - tau_before,
            min_reward=cond["min_reward"],
            max_std=cond["max_std"],
            min_margin=cond["min_margin"],
            window_size=stats.size,
        )
        # MedLoc-R1 semi-preserved refresh: keep the newest ⌊N/2⌋ entries, refill under the new τ.
        self.window.keep_newest(cfg.window // 2 if cfg.keep is None else cfg.keep)
        if cfg.rescore_kept:
            self.window.rescore(lambda iou: self.reward(iou, self.tau))
        return True

    def window_public(self) -> dict[str, Any]:
        return self.conditions()

"""MedLoc-R1's performance-aware IoU threshold schedule (arXiv 2603.28120, CVPR 2026).

Reward ``1[IoU ≥ τ]``. A window of the last N entries (mean reward, mean IoU, raw IoUs) gives
three statistics; τ rises by δ only when the window is full and all three conditions hold
(the paper's §3, as transcribed by its paper note)::

    mean_reward ≥ P(τ)   and   std(entry-mean rewards) ≤ S(τ)   and   mean_iou − τ ≥ Δ

An entry is one prompt group (the port's reading, the default) or, with
``window_entry="step"``, all groups of one training step (the paper's r̄ₖ sums over steps).
After a raise the oldest half of the window is dropped (the paper's semi-preserved refresh)
and the kept entries are re-scored under the new τ from their raw IoUs, since the paper's
r̄ₖ counts ``1[IoU ≥ τₖ]`` at the current τ (``rescore_kept=False`` keeps the port's old rewards).

Every constant is a config field; sources are cited on each. The P/S stage table, the
piecewise boundaries β and δ₀ come from a third-party port of the method, not the paper.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schedulers.scheduler import EPS, TAU_DECIMALS, Scheduler, SchedulerConfig


class Stage(BaseModel):
    """One row of the P/S table: from ``min_tau`` upwards, need hit rate ≥ P and std ≤ S."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_tau: float = Field(ge=0.0, le=1.0)
    min_reward: float = Field(ge=0.0, le=1.0, description="P(τ): minimum window mean reward (hit rate).")
    max_std: float = Field(ge=0.0, le=1.0, description="S(τ): maximum std of the group-mean rewards.")


# [PORT] the third-party port's accept_stages ((0.75, 0.55, 0.40), (0.60, 0.75, 0.35), (0.00, 0.80, 0.20));
# P is relaxed and S widened as τ rises, as the paper describes, but the numbers are the porter's.
DEFAULT_STAGES = (
    Stage(min_tau=0.75, min_reward=0.55, max_std=0.40),
    Stage(min_tau=0.60, min_reward=0.75, max_std=0.35),
    Stage(min_tau=0.00, min_reward=0.80, max_std=0.20),
)


# The run record holds the P/S table and every raise, and each report rewrites the record:
# bounded so that no config makes a record (and every report on it) arbitrarily large. A step
# below MIN_STEP moves τ by less than a thousandth of IoU: a raise that would leave τ closer
# than that to τ_target goes all the way, no δ may be set below it, and a step entry keeps at
# most MAX_STEP_IOUS raw IoUs.
MAX_STAGES = 16
MIN_STEP = 0.001
MAX_STEP_IOUS = 4096


class MedLocConfig(SchedulerConfig):
    """MedLoc-R1 schedule config; defaults are the paper's (or its port's, where marked)."""

    tau0: float = Field(default=0.3, ge=0.0, le=1.0, description="Initial τ (MedLoc-R1: τ₀=0.3).")
    tau_target: float = Field(default=0.8, ge=0.0, le=1.0, description="Final τ (MedLoc-R1: τ_target=0.8).")
    margin: float = Field(default=0.10, ge=-1.0, le=1.0, description="Δ: required mean_iou − τ (MedLoc-R1: 0.10).")
    stages: tuple[Stage, ...] = Field(
        default=DEFAULT_STAGES,
        min_length=1,
        max_length=MAX_STAGES,
        description="P/S table, first row with τ ≥ min_tau wins (third-party port, not verified against the paper).",
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
    decay_by: Literal["raises", "tau"] = Field(
        default="raises",
        description="Linear/cosine δ as a function of the raise count k (arrives in K raises, see next_delta) "
        "or of τ's progress (the port's formula, which alone never arrives).",
    )
    delta_floor: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Smallest linear/cosine δ (MedLoc-R1's finest piecewise step δ⁽³⁾ = 0.05).",
    )
    window_entry: Literal["group", "step"] = Field(
        default="group",
        description="One window entry per prompt group (port) or per training step, all its groups pooled (paper).",
    )
    min_fill: int | None = Field(
        default=None, ge=1, description="Entries needed before any raise; None = the full window (port)."
    )
    keep: int | None = Field(
        default=None, ge=0, description="Entries kept after a raise; None = ⌊N/2⌋ (semi-preserved refresh)."
    )
    rescore_kept: bool = Field(
        default=True,
        description="Re-score kept entries under the new τ from their raw IoUs (paper: r̄ₖ at τₖ; port: keep as is).",
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


def raise_budget(cfg: MedLocConfig) -> int:
    """K: the raises a linear/cosine schedule by raise count takes from τ₀ to τ_target.

    Both forms below sum to δ₀(K+1)/2 over k = 0..K−1 (Σₖ cos(πk/K) = 1), so K is the least
    integer with δ₀(K+1)/2 ≥ τ_target − τ₀.

    >>> raise_budget(MedLocConfig())  # δ₀ = 0.2 over 0.3 → 0.8: 0.2 + 0.15 + 0.10 + 0.05
    4
    """
    span = cfg.tau_target - cfg.tau0
    return max(1, math.ceil(2.0 * span / cfg.delta0 - 1.0 - 1e-9))


def next_delta(tau: float, cfg: MedLocConfig, raises: int = 0) -> float:
    """δ: the step the next raise takes from ``tau`` after ``raises`` raises.

    - ``piecewise`` (paper's δ⁽¹⁾/δ⁽²⁾/δ⁽³⁾, port's boundaries β₁/β₂): by τ.
    - ``linear``/``cosine``, ``decay_by="raises"`` (ours; the paper says each needs only δ₀ and
      performs about as well as piecewise, so each must arrive): with x = min(k/K, 1) and K from
      `raise_budget`, ``δₖ = max(δ₀(1 − x), floor)`` or ``max(½δ₀(1 + cos πx), floor)``.
      With the defaults both arrive in 4 raises: linear 0.3 → 0.5 → 0.65 → 0.75 → 0.8, cosine
      0.3 → 0.5 → 0.671 → 0.771 → 0.8. Since τₖ is fixed by k, this is still a δ(τₖ).
    - ``decay_by="tau"`` (the port's formula): x = (τ − τ₀)/(τ_target − τ₀), same forms and
      floor; without the floor the remaining gap only shrinks geometrically (linear 0.5, 0.62,
      0.692, 0.735, …) and τ_target is never reached.

    >>> cfg = MedLocConfig()
    >>> [next_delta(t, cfg) for t in (0.3, 0.45, 0.6, 0.7, 0.75)]
    [0.15, 0.15, 0.1, 0.1, 0.05]
    >>> [round(next_delta(0.0, MedLocConfig(decay="linear"), k), 3) for k in range(5)]
    [0.2, 0.15, 0.1, 0.05, 0.05]
    """
    if cfg.decay == "piecewise":
        if tau >= cfg.beta2 - EPS:
            return cfg.delta3
        if tau >= cfg.beta1 - EPS:
            return cfg.delta2
        return cfg.delta1
    if cfg.decay_by == "raises":
        progress = min(max(raises, 0) / raise_budget(cfg), 1.0)
    else:
        span = cfg.tau_target - cfg.tau0
        progress = 1.0 if span <= 0 else min(max((tau - cfg.tau0) / span, 0.0), 1.0)
    if cfg.decay == "linear":
        delta = cfg.delta0 * (1.0 - progress)
    else:
        delta = 0.5 * cfg.delta0 * (1.0 + math.cos(math.pi * progress))
    return max(delta, cfg.delta_floor)


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

    def reset(self) -> None:
        super().reset()
        self.entry_step: int | None = None  # the step of the newest window entry (window_entry="step")

    def add_entry(self, step: int, mean_reward: float, mean_iou: float, ious: list[float]) -> None:
        if self.config.window_entry == "group":
            super().add_entry(step, mean_reward, mean_iou, ious)
            return
        if self.entry_step is not None and step <= self.entry_step and len(self.window):
            # same step (or a late group of an earlier one): pooled into the step's entry
            self.window.merge_newest(ious, lambda iou: self.reward(iou, self.tau), MAX_STEP_IOUS)
            return
        self.window.append(mean_reward, mean_iou, ious[:MAX_STEP_IOUS])
        self.entry_step = step

    def before_report(self, step: int) -> None:
        # A step entry is complete when a later step arrives: check it then, so that a raise
        # scores the whole next step at the new τ (the paper's τₖ₊₁ after step k).
        if self.config.window_entry == "step" and self.entry_step is not None and step > self.entry_step:
            self.maybe_raise(self.entry_step, "")

    def after_group(self, step: int, group: str) -> bool:
        if self.config.window_entry == "step":
            return False
        return self.maybe_raise(step, group)

    def maybe_raise(self, step: int, group: str) -> bool:
        """Raise τ if the window allows it; True when it did."""
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
        new_tau = min(self.tau + max(next_delta(self.tau, cfg, len(self.raises)), MIN_STEP), cfg.tau_target)
        if cfg.tau_target - new_tau < MIN_STEP:  # no sliver left to climb (0.799999999 is 0.8)
            new_tau = cfg.tau_target
        new_tau = round(new_tau, TAU_DECIMALS)
        if new_tau <= self.tau:
            return False
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

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"entry_step": self.entry_step}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        entry_step = state.get("entry_step")
        if entry_step is not None and (
            isinstance(entry_step, bool) or not isinstance(entry_step, int) or entry_step < 0
        ):
            raise ValueError("state.entry_step must be a step (an integer ≥ 0) or null")
        self.entry_step = entry_step

    def window_public(self) -> dict[str, Any]:
        return self.conditions()

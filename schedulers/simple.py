"""The two baselines MedLoc-R1 compares against: a fixed τ and τ by training step.

Both keep the same window statistics as ``medloc`` (for observability and for comparing
runs), but the window never moves τ.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from schedulers.scheduler import Scheduler, SchedulerConfig


class FixedConfig(SchedulerConfig):
    """A constant threshold."""

    # VLM-R1's fixed baseline, the one MedLoc-R1 reports as "VLM-R1 (Fixed, τ=0.5)".
    tau: float = Field(default=0.5, ge=0.0, le=1.0, description="The constant τ (VLM-R1 baseline: 0.5).")


class FixedScheduler(Scheduler):
    """τ never changes.

    >>> from schedulers.base import GroupReport
    >>> FixedScheduler(FixedConfig(tau=0.5)).report([GroupReport("p", [0.4, 0.5, None])])[0].rewards
    [0.0, 1.0, None]
    """

    name: ClassVar[str] = "fixed"
    config_model: ClassVar[type[SchedulerConfig]] = FixedConfig
    config: FixedConfig

    def initial_tau(self) -> float:
        return self.config.tau


# V-Triune ("One RL to See Them All", arXiv 2505.18129) raises its IoU threshold at fixed points
# of training progress; its per-stage constants are not reproduced here (not verified). The
# default walks MedLoc-R1's piecewise τ path 0.30 → 0.45 → 0.60 → 0.70 → 0.80 every 100 steps.
DEFAULT_MILESTONES: tuple[tuple[int, float], ...] = ((0, 0.3), (100, 0.45), (200, 0.6), (300, 0.7), (400, 0.8))


# Bounded: the run record holds them and each report rewrites the record (a τ change every
# training step of a 1000-step run still fits).
MAX_MILESTONES = 1000


class StepConfig(SchedulerConfig):
    """τ by training step (V-Triune-style "progress-aware" schedule)."""

    milestones: tuple[tuple[int, float], ...] = Field(
        default=DEFAULT_MILESTONES,
        min_length=1,
        max_length=MAX_MILESTONES,
        description="(step, τ) pairs, steps strictly increasing: τ is that of the last milestone ≤ step "
        "(before the first one, the first τ).",
    )

    @field_validator("milestones")
    @classmethod
    def _ordered(cls, v: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
        steps = [s for s, _ in v]
        if any(s < 0 for s in steps):
            raise ValueError("milestone steps must be ≥ 0")
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("milestone steps must be strictly increasing")
        if any(not 0.0 <= t <= 1.0 for _, t in v):
            raise ValueError("milestone τ must be in [0, 1]")
        return v


def tau_at_step(step: int, milestones: tuple[tuple[int, float], ...]) -> float:
    """τ of the last milestone at or before ``step``.

    >>> [tau_at_step(s, ((0, 0.3), (100, 0.45))) for s in (0, 99, 100, 500)]
    [0.3, 0.3, 0.45, 0.45]
    """
    tau = milestones[0][1]
    for at, t in milestones:
        if step < at:
            break
        tau = t
    return tau


class StepScheduler(Scheduler):
    """τ set by the training step; every change of the run's τ is recorded as a raise.

    A report scores its groups with τ of its own step, so a rank that lags behind gets the τ
    of the step it is on; the run's τ is that of the latest step seen.
    """

    name: ClassVar[str] = "step"
    config_model: ClassVar[type[SchedulerConfig]] = StepConfig
    config: StepConfig

    def initial_tau(self) -> float:
        return tau_at_step(0, self.config.milestones)

    def tau_for_step(self, step: int) -> float:
        return tau_at_step(step, self.config.milestones)

    def before_report(self, step: int) -> None:
        new_tau = tau_at_step(self.step, self.config.milestones)
        if new_tau != self.tau:
            stats = self.window.stats()
            tau_before, self.tau = self.tau, new_tau
            self.record_raise(
                self.step,
                "",
                tau_before,
                mean_reward=stats.mean_reward if stats else None,
                std_reward=stats.std_reward if stats else None,
                mean_iou=stats.mean_iou if stats else None,
                margin=stats.mean_iou - tau_before if stats else None,
                reason="milestone",
            )

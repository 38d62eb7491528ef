"""The pure state machine every schedule shares: score groups, keep the window, count, raise.

A scheduler holds no I/O and no clock: the stores load it from a state dict, feed it one
report, and save ``state_dict()`` back, all inside one transaction.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from schedulers.base import GroupReport, GroupResult
from schedulers.window import Window

STATE_VERSION = 1

# Sums of decimal constants (0.3 + 0.15) land a hair off in binary floating point; τ is
# rounded to this many places after every change so that stage boundaries such as
# τ ≥ 0.60 behave as written, and conditions compare with the matching tolerance.
TAU_DECIMALS = 9
EPS = 1e-9


# A checkpoint (PUT /v1/runs/{id}/state) becomes the run record that every report rewrites, so
# what it may hold is bounded by what a run can produce: δ ≥ 0.001 and at most 1000 milestones
# give far fewer raises, and a window entry holds one group's IoUs (a request holds ≤ 1024 items
# by default). Raises are flat records of numbers and short texts.
MAX_RAISES = 10_000
MAX_ENTRY_IOUS = 65_536
_MAX_RAISE_KEYS = 32
_MAX_RAISE_TEXT = 1024  # group ids reach raises; the service takes ids of up to 256 characters


def _raise_entry(value: Any) -> dict[str, Any]:
    """One raise of a checkpoint, checked to be a flat record (``ValueError`` otherwise)."""
    entry = dict(value)
    if len(entry) > _MAX_RAISE_KEYS:
        raise ValueError(f"a raise has {len(entry)} keys")
    for key, v in entry.items():
        if not isinstance(key, str) or len(key) > _MAX_RAISE_TEXT:
            raise ValueError("raise keys are short texts")
        if not (v is None or isinstance(v, bool | int | float) or (isinstance(v, str) and len(v) <= _MAX_RAISE_TEXT)):
            raise ValueError(f"raise field {key!r} must be a number or a short text")
    return entry


class SchedulerConfig(BaseModel):
    """Fields every schedule has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(default=30, ge=1, le=10_000, description="Window length N in group entries (MedLoc-R1: N=30).")
    strict: bool = Field(
        default=False,
        description="Reward 1[IoU > τ] instead of 1[IoU ≥ τ] (the paper's note writes ≥, its port and VLM-R1 use >).",
    )


def clean_iou(value: object) -> float | None:
    """A usable IoU, or None for an unscorable item (None, NaN, ±inf, non-numbers, outside [-1, 1]).

    [-1, 1] admits GIoU/DIoU; anything outside cannot come from a box metric.

    >>> import numpy as np
    >>> [clean_iou(v) for v in (0.5, 1, np.float32(0.25), None, float("nan"), "0.3", 2.0, True)]
    [0.5, 1.0, 0.25, None, None, None, None, None]
    """
    # numbers.Real admits numpy scalars (float32 too), which trainers often send.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    x = float(value)
    if not math.isfinite(x) or x < -1.0 or x > 1.0:
        return None
    return x


class Scheduler(ABC):
    """Base of the schedules: subclasses say how τ is chosen and when it moves."""

    name: ClassVar[str]
    config_model: ClassVar[type[SchedulerConfig]]

    def __init__(self, config: SchedulerConfig, state: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.reset()
        if state:
            self.load_state_dict(state)

    # ---- subclass hooks -------------------------------------------------------------
    @abstractmethod
    def initial_tau(self) -> float:
        """τ of a fresh run."""

    def tau_for_step(self, step: int) -> float:
        """The τ that scores groups reported at ``step`` (default: the τ in force)."""
        return self.tau

    def before_report(self, step: int) -> None:
        """Called once per report before its groups are scored (default: nothing to do)."""
        return None

    def after_group(self, step: int, group: str) -> bool:
        """Called after each group's entry is appended; returns True when τ was raised."""
        return False

    def window_public(self) -> dict[str, Any]:
        """Extra keys for the public ``window`` dict (thresholds, condition values)."""
        return {}

    def add_entry(self, step: int, mean_reward: float, mean_iou: float, ious: list[float]) -> None:
        """Put one scored group into the window (default: one entry per group)."""
        self.window.append(mean_reward, mean_iou, ious)

    # ---- the state machine ----------------------------------------------------------
    def reset(self) -> None:
        self.tau = self.initial_tau()
        self.step = 0
        self.groups = 0
        self.reports = 0
        self.window = Window(self.config.window)
        self.raises: list[dict[str, Any]] = []

    def reward(self, iou: float, tau: float) -> float:
        hit = iou > tau + EPS if self.config.strict else iou >= tau - EPS
        return 1.0 if hit else 0.0

    def report(self, groups: Sequence[GroupReport], step: int | None = None) -> list[GroupResult]:
        """Score ``groups`` in order, each with the τ in force when it arrives; maybe raise after each.

        ``step`` is the trainer's step; without one, the run counts one step per report.
        """
        self.reports += 1
        if step is None:
            step = self.step + 1
        self.step = max(self.step, step)
        self.before_report(step)
        results = []
        for g in groups:
            tau = self.tau_for_step(step)
            ious = [clean_iou(x) for x in g.ious]
            rewards: list[float | None] = [None if x is None else self.reward(x, tau) for x in ious]
            scored = [x for x in ious if x is not None]
            self.groups += 1
            raised = False
            if scored:
                hits = [r for r in rewards if r is not None]
                self.add_entry(step, math.fsum(hits) / len(hits), math.fsum(scored) / len(scored), scored)
                raised = self.after_group(step, str(g.group))
            results.append(GroupResult(group=str(g.group), rewards=rewards, tau=tau, raised=raised))
        return results

    def record_raise(self, step: int, group: str, tau_before: float, **stats: Any) -> None:
        self.raises.append(
            {"step": step, "group": group, "group_index": self.groups, "tau_before": tau_before, "tau_after": self.tau}
            | stats
        )

    # ---- persistence ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (JSON-ready); the config is stored beside it."""
        return {
            "version": STATE_VERSION,
            "tau": self.tau,
            "step": self.step,
            "groups": self.groups,
            "reports": self.reports,
            "window": self.window.to_list(),
            "raises": [dict(r) for r in self.raises],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from ``state_dict()`` output; `ValueError` naming the key for a malformed one."""
        if not isinstance(state, Mapping):
            raise ValueError("state must be an object")
        if state.get("version", STATE_VERSION) != STATE_VERSION:
            raise ValueError(f"unsupported scheduler state version {state.get('version')!r}")
        try:
            tau = float(state["tau"])
            counters = {k: int(state[k]) for k in ("step", "groups")} | {"reports": int(state.get("reports", 0))}
            window = Window(self.config.window, state.get("window", []))
            raises = [_raise_entry(r) for r in state.get("raises", [])]
        except KeyError as exc:
            raise ValueError(f"state is missing {exc.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(±Infinity)
            raise ValueError(f"malformed state: {exc}") from None
        if len(raises) > MAX_RAISES:
            raise ValueError(f"state.raises: {len(raises)} raises; a run makes at most {MAX_RAISES}")
        if any(len(e[2]) > MAX_ENTRY_IOUS for e in window.to_list()):
            raise ValueError(f"state.window: an entry holds more than {MAX_ENTRY_IOUS} IoUs")
        if not (math.isfinite(tau) and 0.0 <= tau <= 1.0):
            raise ValueError("state.tau must be in [0, 1]")
        if any(v < 0 for v in counters.values()):
            raise ValueError("state.step, groups and reports must be ≥ 0")
        self.tau = tau
        self.step, self.groups, self.reports = counters["step"], counters["groups"], counters["reports"]
        self.window = window
        self.raises = raises

    def public(self) -> dict[str, Any]:
        """The schedule part of ``RunStore.get_run``."""
        stats = self.window.stats()
        window: dict[str, Any] = {
            "size": len(self.window),
            "capacity": self.window.capacity,
            "full": self.window.full,
            "mean_reward": stats.mean_reward if stats else None,
            "std_reward": stats.std_reward if stats else None,
            "mean_iou": stats.mean_iou if stats else None,
            "margin": stats.mean_iou - self.tau if stats else None,
        } | self.window_public()
        return {
            "tau": self.tau,
            "step": self.step,
            "groups": self.groups,
            "reports": self.reports,
            "window": window,
            "raises": [dict(r) for r in self.raises],
        }

"""Request and response models of the run-insight routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.profiles import Profile
from scorers import Item

_STEP_EXAMPLE: dict[str, Any] = {
    "step": 12,
    "items": 64,
    "scored": 62,
    "groups": 8,
    "dead_groups": 3,
    "phantom_groups": 2,
    "small_groups": 0,
    "dead_group_rate": 0.375,
    "phantom_group_rate": 0.25,
    "no_signal_rate": 0.625,
    "reward": {"mean": 0.41, "std": 0.22},
    "components": {"iou": {"n": 62, "mean": 0.35, "std": 0.48, "abstentions": 2, "abstain_rate": 0.03125}},
    "histogram": [0] * 20 + [30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32],
    "tau": 0.45,
    "window": {"size": 30, "capacity": 30, "mean_reward": 0.62, "reward_ok": False},
    "updated_at": 1.7e9,
}


class StepStats(BaseModel):
    """One training step seen from the reward side (rates are null where no group was counted)."""

    model_config = ConfigDict(extra="allow")

    step: int
    items: int = Field(description="Items scored in this step.")
    scored: int = Field(description="Items with a total (the others had a required component abstain).")
    groups: int = Field(description="GRPO groups of at least 2 scored items judged in this step.")
    dead_groups: int = Field(description="Groups whose totals are all equal: GRPO learns nothing from them.")
    phantom_groups: int = Field(
        description="Groups whose outcome components are all equal but whose totals differ through shaping terms."
    )
    small_groups: int = Field(description="Groups with fewer than 2 scored items (no group statistic).")
    dead_group_rate: float | None
    phantom_group_rate: float | None
    no_signal_rate: float | None = Field(description="Dead or phantom: no outcome signal in the group.")
    reward: dict[str, float | None] = Field(description="Mean and std of the totals.")
    components: dict[str, dict[str, Any]] = Field(description="Per component: n, mean, std, abstentions, rate.")
    histogram: list[int] = Field(description="Counts of totals per bin (edges in `histogram_edges`).")
    tau: float | None = Field(default=None, description="τ in force at the step's last scoring call.")
    window: dict[str, Any] | None = Field(default=None, description="The MedLoc-R1 window then: stats and checks.")
    updated_at: float | None = None


class RunStats(BaseModel):
    """A run's per-step statistics, its schedule and any warnings."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": "exp-1",
                    "scheduler": "medloc",
                    "tau": 0.45,
                    "step": 12,
                    "groups": 96,
                    "window": {"size": 30, "capacity": 30, "mean_reward": 0.62, "reward_ok": False},
                    "raises": [{"step": 8, "tau_before": 0.3, "tau_after": 0.45}],
                    "warnings": [],
                    "dead_group_warn": 0.5,
                    "dead_group_warn_steps": 5,
                    "steps_kept": 500,
                    "histogram_edges": [-1.0, -0.95, "…", 1.0],
                    "steps": [_STEP_EXAMPLE],
                }
            ]
        }
    )

    run_id: str
    scheduler: str
    tau: float
    step: int | None = None
    groups: int = 0
    window: dict[str, Any] = Field(default_factory=dict, description="The window now.")
    raises: list[dict[str, Any]] = Field(default_factory=list, description="Every τ raise (step, τ before/after).")
    warnings: list[str] = Field(
        default_factory=list, description="E.g. the dead-group rate above MEDREWARD_DEAD_GROUP_WARN for K steps."
    )
    dead_group_warn: float
    dead_group_warn_steps: int
    steps_kept: int = Field(description="At most this many newest steps are kept (MEDREWARD_INSIGHT_STEPS).")
    histogram_edges: list[float]
    steps: list[StepStats] = Field(description="Oldest first.")


class ExplainRequest(BaseModel):
    """One item and the profile to score it with."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "profile": "vqa-open",
                    "item": {
                        "completion": "<think>The left lung is clear.</think><answer>No pneumothorax</answer>",
                        "reference": "pneumothorax",
                    },
                }
            ]
        },
    )

    profile: str | Profile = Field(description="A profile name, or an inline profile.")
    item: Item


class ExplainedComponent(BaseModel):
    key: str
    reward_name: str
    reward: float | None
    weight: float
    required: bool = Field(description="An outcome component (its abstention nulls the total).")
    status: str | None
    rule: str | None = Field(description="The rule that fired (e.g. negation_mismatch, mcq_correct).")
    reason: str | None = Field(description="Why it abstained, when it did.")
    extracted: dict[str, Any] = Field(description="What it read: the answer, its source, options named, boxes, ...")
    normalised: dict[str, Any] = Field(description="Answer and references after the medical normaliser.")
    details: dict[str, Any]


class Explanation(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "profile": "vqa-open",
                    "total": 0.2,
                    "status": "ok",
                    "reason": None,
                    "components": [
                        {
                            "key": "answer",
                            "reward_name": "answer",
                            "reward": 0.0,
                            "weight": 1.0,
                            "required": True,
                            "status": "ok",
                            "rule": "negation_mismatch",
                            "reason": None,
                            "extracted": {"answer": "No pneumothorax", "source": "tag"},
                            "normalised": {"answer": "no pneumothorax", "reference": ["pneumothorax"]},
                            "details": {"kind": "open", "conflict": "negation"},
                        }
                    ],
                }
            ]
        }
    )

    profile: str
    total: float | None
    status: str
    reason: str | None
    components: list[ExplainedComponent]

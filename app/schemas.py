"""Request and response models of the REST API (v1). The trainer client may import these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.profiles import Profile
from scorers import Item

RUN_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
REQUEST_ID = r"^[A-Za-z0-9._:-]{1,128}$"

_GROUNDING_ITEM: dict[str, Any] = {
    "completion": "<think>opacity in the right lower lobe</think><answer>[120, 200, 260, 330]</answer>",
    "boxes": [[118, 190, 250, 320]],
    "group": "cxr-0042",
}
_VQA_ITEM: dict[str, Any] = {
    "completion": "<think>no visible pleural line</think><answer>no</answer>",
    "reference": "no",
}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RewardInfo(BaseModel):
    name: str
    description: str
    range: list[float]
    params_schema: dict[str, Any]
    citation: str


class RewardList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rewards": [
                        {
                            "name": "format",
                            "description": "think/answer layout",
                            "range": [0.0, 1.0],
                            "params_schema": {"type": "object", "properties": {"mode": {"type": "string"}}},
                            "citation": "open-r1 tag_count",
                        }
                    ]
                }
            ]
        }
    )

    rewards: list[RewardInfo]


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "store": True,
                    "models": {"backend": "onnx", "loaded": True, "required": True},
                    "rewards": ["answer", "format", "iou", "length", "recitation", "semantic"],
                }
            ]
        }
    )

    status: Literal["ready", "not_ready"]
    store: bool = Field(description="The run store answered a ping.")
    models: dict[str, Any] = Field(description="Embedding model status (semantic reward).")
    rewards: list[str] = Field(description="Registered rewards.")


class _Scheduled(_Request):
    run_id: str | None = Field(
        default=None, pattern=RUN_ID, description="Report IoUs to this run's scheduler (iou reward only)."
    )
    step: int | None = Field(default=None, ge=0, le=10**12, description="Trainer step, recorded with raises.")
    request_id: str | None = Field(
        default=None, pattern=REQUEST_ID, description="Idempotency key: a retry returns the stored schedule result."
    )
    group_size: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Per-sample traffic: hold each group's IoUs until this many completions arrived, then report "
        "the group (scored at once with the τ in force).",
    )
    details: bool = Field(
        default=True,
        description="false: the response's details is null, for trainers that read the rewards only (reasons "
        "still say why an item abstains).",
    )


class RewardRequest(_Scheduled):
    """One reward over a batch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"items": [_VQA_ITEM], "params": {}},
                {"items": [_GROUNDING_ITEM], "params": {"coords": "abs"}, "run_id": "exp-1", "request_id": "s1-r0"},
            ]
        },
    )

    items: list[Item] = Field(description="Items to score (at most MEDREWARD_MAX_ITEMS).")
    params: dict[str, Any] = Field(default_factory=dict, description="The reward's params (see its params_schema).")


class RewardResponse(BaseModel):
    rewards: list[float | None] = Field(description="One per item; null = the reward abstains (see status).")
    status: list[str] = Field(description="ok | unscorable | error, one per item.")
    reasons: list[str | None] = Field(
        default_factory=list, description="Per item, why its reward is null (null where it has one)."
    )
    details: list[dict[str, Any]] | None = Field(
        description="What was extracted and which rule fired, per item; null when the request asked for none."
    )
    schedule: dict[str, Any] | None = Field(default=None, description="Run state after the report (with run_id).")


class ScoreRequest(_Scheduled):
    """A composite score by profile."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"profile": "vqa-closed", "items": [_VQA_ITEM]},
                {"profile": "grounding-medloc", "items": [_GROUNDING_ITEM], "run_id": "exp-1", "step": 12},
            ]
        },
    )

    profile: str | Profile = Field(description="A profile name, or an inline profile.")
    items: list[Item]


class ScoreResponse(BaseModel):
    rewards: list[float | None] = Field(
        description="Weighted total per item; null when a required (outcome) component abstains, or every one does."
    )
    components: dict[str, list[float | None]] = Field(description="Every component's rewards (null = abstained).")
    weights: dict[str, float]
    status: list[str]
    reasons: list[str | None] = Field(
        default_factory=list, description="Per item, why its total is null (null where it has one)."
    )
    details: list[dict[str, Any]] | None = Field(
        description="Per item: each component's details; null when the request asked for none."
    )
    schedule: dict[str, Any] | None = None


class ProfileOut(BaseModel):
    name: str
    source: Literal["builtin", "file", "tenant"]
    profile: Profile


class ProfileList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "profiles": [
                        {
                            "name": "vqa-closed",
                            "source": "builtin",
                            "profile": {
                                "components": [
                                    {"reward": "format", "weight": 0.2},
                                    {"reward": "answer", "weight": 0.8},
                                ],
                                "answer_kind": "closed",
                            },
                        }
                    ]
                }
            ]
        }
    )

    profiles: list[ProfileOut]


class RunCreate(_Request):
    """A new run (its schedule state)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"run_id": "exp-1", "scheduler": "medloc", "config": {"tau0": 0.3}}]},
    )

    run_id: str | None = Field(default=None, pattern=RUN_ID, description="Generated when absent.")
    scheduler: Literal["medloc", "fixed", "step"] = "medloc"
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Scheduler config (defaults: GET /v1/runs/{id} shows them; README, Schedulers).",
    )


_RUN_EXAMPLE: dict[str, Any] = {
    "run_id": "exp-1",
    "scheduler": "medloc",
    "tau": 0.45,
    "step": 120,
    "groups": 960,
    "window": {"size": 15, "capacity": 30, "mean_reward": 0.62, "std_reward": 0.18, "mean_iou": 0.58},
    "raises": [{"step": 88, "tau_before": 0.3, "tau_after": 0.45, "mean_reward": 0.83, "margin": 0.21}],
}


class RunState(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_RUN_EXAMPLE]})

    run_id: str
    scheduler: str
    tau: float
    step: int | None = None
    groups: int = 0
    window: dict[str, Any] = Field(default_factory=dict)
    raises: list[dict[str, Any]] = Field(default_factory=list)


class RunCheckpoint(_Request):
    """Everything needed to restore a run's schedule: a trainer saves it beside its weights."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "run_id": "exp-1",
                    "scheduler": "medloc",
                    "config": {"tau0": 0.3, "tau_target": 0.8},
                    "state": {
                        "version": 1,
                        "tau": 0.45,
                        "step": 120,
                        "groups": 960,
                        "reports": 120,
                        "window": [[0.75, 0.58, [0.61, 0.42, 0.7, 0.59]]],
                        "raises": [{"step": 88, "tau_before": 0.3, "tau_after": 0.45}],
                    },
                }
            ]
        },
    )

    run_id: str | None = Field(default=None, pattern=RUN_ID, description="Must match the path when given.")
    scheduler: Literal["medloc", "fixed", "step"]
    config: dict[str, Any] = Field(default_factory=dict, description="Scheduler config (defaults filled in).")
    state: dict[str, Any] = Field(
        description="The scheduler's state: τ, step, groups, reports, window entries (group-mean reward, "
        "group-mean IoU, raw IoUs) and raises."
    )


class RunList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"runs": [_RUN_EXAMPLE]}]})

    runs: list[RunState]


class RunHistory(BaseModel):
    run_id: str
    history: list[dict[str, Any]] = Field(description="Every raise: step, τ before/after, the statistics.")

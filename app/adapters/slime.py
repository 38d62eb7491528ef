"""slime's ``remote_rm``: ``{"prompt", "response", "label"}`` → a number, or a dict for ``--reward-key``.

slime stores the whole JSON reply as ``sample.reward`` (slime's ``remote_rm``):
``?output=number`` returns a bare number; the default dict carries ``score`` (use
``--reward-key score``) with every component.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SlimeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "prompt": "Is there a pneumothorax? Answer yes or no.",
                    "response": "<think>no pleural line</think><answer>no</answer>",
                    "label": "no",
                }
            ]
        },
    )

    prompt: str | list[dict[str, Any]] | None = Field(default=None, description="Text or chat messages.")
    response: str
    label: Any = Field(default=None, description="A reference, or an object (or JSON string) with Item fields.")
    metadata: dict[str, Any] | None = Field(default=None, description="Optional; may carry Item fields.")


class SlimeResult(BaseModel):
    score: float = Field(description="The total (a null total → MEDREWARD_ABSTAIN_VALUE, flagged by `abstained`).")
    reward: float | None = Field(description="The total, null when a required component abstained.")
    abstained: bool
    reason: str | None = Field(default=None, description="Why the total is null.")
    outcome: float | None = Field(description="The outcome components alone (answer, iou, semantic).")
    components: dict[str, float | None] = Field(description="Every component (null = abstained).")
    overlaps: dict[str, float | None] = Field(
        default_factory=dict, description="The raw IoU behind each iou component's reward."
    )
    tau: float | None = None

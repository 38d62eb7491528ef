"""Request and response models of the REST API (v1). The trainer client may import these."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class RewardInfo(BaseModel):
    name: str
    description: str
    range: list[float]
    params_schema: dict[str, Any]
    citation: str


class RewardList(BaseModel):
    rewards: list[RewardInfo]


class Health(BaseModel):
    status: str

"""The baseline of bench_load: the minimal FastAPI + pydantic endpoint a user would write around
the same in-process scorer (``uvicorn bench.minimal_app:app``). No auth, no runs, no limits."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from scorers import Item, get_reward, score

app = FastAPI()


class ScoreRequest(BaseModel):
    items: list[Item]
    params: dict[str, Any] = {}


@app.post("/v1/rewards/{name}")
def score_reward(name: str, body: ScoreRequest) -> dict[str, Any]:
    out = score(name, body.items, get_reward(name).params.model_validate(body.params))
    return {"rewards": [s.reward for s in out], "status": [s.status for s in out], "details": [s.details for s in out]}

"""A scripted service and a sync/async client runner for the client library's unit tests."""

from __future__ import annotations

import asyncio
import inspect
import json
import random
from collections.abc import Callable
from typing import Any

import httpx

from trainer import AsyncMedRewardClient, MedRewardClient

Handler = Callable[[httpx.Request], httpx.Response]


def score_body(items: list[dict[str, Any]], tau: float | None = None) -> dict[str, Any]:
    """What /v1/score answers: reward = the number written in each completion."""
    rewards = [float(it["completion"]) for it in items]
    return {
        "rewards": rewards,
        "components": {"answer": rewards, "format": [1.0] * len(items)},
        "weights": {"answer": 0.8, "format": 0.2},
        "status": ["ok"] * len(items),
        "reasons": [None] * len(items),
        "details": [{} for _ in items],
        "schedule": None if tau is None else {"tau": tau},
    }


class Service:
    """A scripted service: answers queued responses first, then scores; records every request."""

    def __init__(self, script: list[httpx.Response | Exception] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            nxt = self.script.pop(0)
            if isinstance(nxt, Exception):
                raise nxt
            # A fresh copy: a response object is consumed once, and the scripts reuse theirs.
            return httpx.Response(nxt.status_code, headers=nxt.headers, content=nxt.content)
        body = json.loads(request.content)
        return httpx.Response(200, json=score_body(body["items"], tau=0.3 + 0.1 * len(self.requests)))

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def error(
    status: int, code: str = "x", message: str = "m", field: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, "field": field}}, headers=headers)


class Runner:
    """Builds a sync or async client over a handler and runs its methods to completion."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sleeps: list[float] = []

    def client(self, handler: Handler, **kw: Any) -> MedRewardClient | AsyncMedRewardClient:
        kw.setdefault("base_url", "http://svc")
        client: MedRewardClient | AsyncMedRewardClient
        if self.kind == "sync":
            client = MedRewardClient(transport=httpx.MockTransport(handler), **kw)
            client._sleep = self.sleeps.append
        else:
            client = AsyncMedRewardClient(transport=httpx.MockTransport(handler), **kw)

            async def record(seconds: float) -> None:
                self.sleeps.append(seconds)

            client._sleep = record
        client.policy.rng = random.Random(0)
        return client

    def call(self, client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        out = getattr(client, method)(*args, **kwargs)
        return asyncio.run(out) if inspect.iscoroutine(out) else out


ITEMS = [{"completion": "0.5", "reference": "yes"}, {"completion": "1.0", "reference": "no"}]

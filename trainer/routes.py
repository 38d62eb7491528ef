"""Every route of the service as a `Call` (or a chunked `Batch`): what the clients execute."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from trainer.batching import Batch, Item, chunk_request_id, encode_body, item_json, new_request_id, plan_chunks
from trainer.results import RewardResult, ScoreResult, merge_rewards, merge_scores
from trainer.retry import ACCEPT_MSGPACK, Call, RetryPolicy

__all__ = ["DEFAULT_URL", "Routes"]

DEFAULT_URL = "http://127.0.0.1:8000"

R = TypeVar("R")


class Routes:
    """Configuration and every route as a `Call` (or a chunked `Batch`); the clients only execute them."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_batch: int,
        deadline: float | None,
        msgpack: bool = True,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.base_url = (base_url or os.environ.get("MEDREWARD_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("MEDREWARD_API_KEY") or None
        self.timeout = timeout
        self.max_batch = max_batch
        self.policy = RetryPolicy(max_retries=max_retries, backoff=backoff, deadline=deadline)
        self.msgpack = msgpack

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "medreward-client/0.1"}
        if self.msgpack:
            # Scoring responses then come as MessagePack (the same values, a fraction of the time
            # to read); every other answer, and a service that does not offer it, stays JSON, and
            # each answer is read by its own content type (`trainer.retry`).
            headers["Accept"] = ACCEPT_MSGPACK
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _batch(
        self,
        path: str,
        body: dict[str, Any],
        items: Iterable[Item],
        request_id: str | None,
        parse: Callable[[Any], R],
        merge: Callable[[list[R], list[list[int]], int], R],
    ) -> Batch[R]:
        rows = [item_json(x) for x in items]
        rid = request_id or new_request_id()
        if len(rows) <= self.max_batch:
            chunks, ids = [list(range(len(rows)))], [rid]
        else:
            chunks = plan_chunks(rows, self.max_batch)
            ids = [chunk_request_id(rid, k) for k in range(len(chunks))]
        bodies = [
            {**body, "items": [rows[i] for i in idx], "request_id": cid} for idx, cid in zip(chunks, ids, strict=True)
        ]
        # Every chunk is encoded (and so checked) before the first is sent: a NaN in the last
        # chunk must not leave the earlier ones reported to a run.
        calls = [
            Call("POST", path, parse, b, cid, encode_body(b, idx))
            for b, cid, idx in zip(bodies, ids, chunks, strict=True)
        ]
        return Batch(calls, chunks, merge, len(rows))

    def _score(
        self,
        items: Iterable[Item],
        profile: str | Mapping[str, Any],
        run_id: str | None,
        step: int | None,
        request_id: str | None,
        group_size: int | None,
        details: bool = True,
    ) -> Batch[ScoreResult]:
        body = _drop_none({"profile": profile, "run_id": run_id, "step": step, "group_size": group_size})
        body |= _lean(details)
        return self._batch("/v1/score", body, items, request_id, ScoreResult.from_json, merge_scores)

    def _reward(
        self,
        name: str,
        items: Iterable[Item],
        params: Mapping[str, Any] | None,
        run_id: str | None,
        step: int | None,
        request_id: str | None,
        group_size: int | None,
        details: bool = True,
    ) -> Batch[RewardResult]:
        body = _drop_none({"params": dict(params or {}), "run_id": run_id, "step": step, "group_size": group_size})
        body |= _lean(details)
        return self._batch(f"/v1/rewards/{name}", body, items, request_id, RewardResult.from_json, merge_rewards)

    def _list_rewards(self) -> Call[list[dict[str, Any]]]:
        return Call("GET", "/v1/rewards", _key("rewards"))

    def _get_reward(self, name: str) -> Call[dict[str, Any]]:
        return Call("GET", f"/v1/rewards/{name}", _doc)

    def _put_profile(self, name: str, profile: Mapping[str, Any]) -> Call[dict[str, Any]]:
        return Call("PUT", f"/v1/profiles/{name}", _doc, dict(profile))

    def _get_profile(self, name: str) -> Call[dict[str, Any]]:
        return Call("GET", f"/v1/profiles/{name}", _doc)

    def _list_profiles(self) -> Call[list[dict[str, Any]]]:
        return Call("GET", "/v1/profiles", _key("profiles"))

    def _delete_profile(self, name: str) -> Call[None]:
        return Call("DELETE", f"/v1/profiles/{name}", _nothing)

    def _create_run(
        self, run_id: str | None, scheduler: str, config: Mapping[str, Any] | None
    ) -> Call[dict[str, Any]]:
        body = _drop_none({"run_id": run_id, "scheduler": scheduler, "config": dict(config or {})})
        return Call("POST", "/v1/runs", _doc, body)

    def _get_run(self, run_id: str) -> Call[dict[str, Any]]:
        return Call("GET", f"/v1/runs/{run_id}", _doc)

    def _list_runs(self) -> Call[list[dict[str, Any]]]:
        return Call("GET", "/v1/runs", _key("runs"))

    def _run_history(self, run_id: str) -> Call[list[dict[str, Any]]]:
        return Call("GET", f"/v1/runs/{run_id}/history", _key("history"))

    def _export_run_state(self, run_id: str) -> Call[dict[str, Any]]:
        return Call("GET", f"/v1/runs/{run_id}/state", _doc)

    def _restore_run_state(self, run_id: str, state: Mapping[str, Any]) -> Call[dict[str, Any]]:
        return Call("PUT", f"/v1/runs/{run_id}/state", _doc, dict(state))

    def _reset_run(self, run_id: str) -> Call[dict[str, Any]]:
        return Call("POST", f"/v1/runs/{run_id}/reset", _doc)

    def _delete_run(self, run_id: str) -> Call[None]:
        return Call("DELETE", f"/v1/runs/{run_id}", _nothing)

    def _health(self) -> Call[dict[str, Any]]:
        return Call("GET", "/healthz", _doc)

    def _ready(self) -> Call[dict[str, Any]]:
        return Call("GET", "/readyz", _doc)


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


def _lean(details: bool) -> dict[str, Any]:
    """``details: false`` when the caller wants none (the service's default is to send them)."""
    return {} if details else {"details": False}


def _doc(doc: Any) -> dict[str, Any]:
    return dict(doc)


def _key(name: str) -> Callable[[Any], list[dict[str, Any]]]:
    def parse(doc: Any) -> list[dict[str, Any]]:
        return list(doc[name])

    return parse


def _nothing(_: Any) -> None:
    return None

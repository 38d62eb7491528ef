"""The compose topology on loopback: 3 replicas on one redis-server behind nginx (deploy/replicas.py).

Needs redis-server and nginx (Debian: apt-get install -y redis-server nginx); fails saying so otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.replicas import Topology

KEY = "replica-test-key-7d41"
AUTH = {"Authorization": f"Bearer {KEY}"}
HIT = "<think>t</think><answer>[10, 10, 50, 50]</answer>"
NEAR = "<think>t</think><answer>[10, 10, 50, 42]</answer>"  # IoU 0.8
MISS = "<think>t</think><answer>[60, 60, 90, 90]</answer>"
RETRY_STATUS = {502, 503, 504}


def post_with_retries(client: httpx.Client, url: str, body: dict[str, Any], attempts: int = 40) -> httpx.Response:
    """What a trainer does: retry connection failures and 502/503/504 with backoff (same body, same request_id)."""
    delay = 0.05
    for _ in range(attempts):
        try:
            resp = client.post(url, json=body)
            if resp.status_code not in RETRY_STATUS:
                return resp
        except httpx.TransportError:
            pass
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise AssertionError(f"{url} failed {attempts} times")


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    env = {"MEDREWARD_API_KEYS": f"{KEY}:lab", "MEDREWARD_LOAD_MODELS": "false"}
    topo = Topology(tmp_path / "topo", replicas=3, env=env, appendfsync="always").start()
    try:
        yield topo
    finally:
        topo.stop()


def _batch(i: int) -> dict[str, Any]:
    # Two prompts per batch, 8 completions each, mostly hits: MedLoc-R1 tightens τ as the run goes.
    items = [
        {
            "completion": (MISS if k == 7 else NEAR if k % 3 == 0 else HIT),
            "boxes": [[10, 10, 50, 50]],
            "group": f"b{i}-{g}",
        }
        for g in range(2)
        for k in range(8)
    ]
    return {"items": items, "run_id": "rep", "step": i, "request_id": f"batch-{i}"}


def _sample(p: int, k: int) -> dict[str, Any]:
    item = {"completion": MISS if k == 7 else HIT, "boxes": [[10, 10, 50, 50]], "group": f"ps-{p}"}
    return {"items": [item], "run_id": "rep", "group_size": 8, "request_id": f"ps-{p}-{k}"}


@pytest.mark.slow
def test_three_replicas_agree_and_a_killed_one_loses_no_acknowledged_report(topology: Topology) -> None:
    with httpx.Client(base_url=topology.url, headers=AUTH, timeout=30.0) as c:
        made = c.post("/v1/runs", json={"run_id": "rep", "scheduler": "medloc", "config": {"window": 8}})
        assert made.status_code == 201, made.text

    batches, prompts = 90, 12
    bodies = [_batch(i) for i in range(batches)] + [_sample(p, k) for p in range(prompts) for k in range(8)]
    bodies.sort(key=lambda b: hash(b["request_id"]) % 97)  # batches and per-sample traffic interleaved
    acked: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def send(body: dict[str, Any]) -> None:
        with httpx.Client(base_url=topology.url, headers=AUTH, timeout=30.0) as c:
            resp = post_with_retries(c, "/v1/rewards/iou", body)
        assert resp.status_code == 200, resp.text
        with lock:
            acked.append(body["request_id"])
            if len(acked) == len(bodies) // 3 and not killed.is_set():
                killed.set()
                topology.kill_replica(1)  # mid-run, while requests are in flight on it

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, bodies))
    assert killed.is_set() and len(acked) == len(bodies)

    def state(i: int) -> dict[str, Any]:
        resp = httpx.get(f"{topology.replica_url(i)}/v1/runs/rep", headers=AUTH, timeout=30.0)
        assert resp.status_code == 200, resp.text
        return {k: v for k, v in resp.json().items() if k != "updated_at"}

    topology.start_replica(1)  # a restarted replica reads the same run
    states = [state(i) for i in range(3)]
    assert states[0] == states[1] == states[2], "τ, window and history are the same whichever replica answers"
    run = states[0]
    # Every acknowledged report counted exactly once: 2 groups per batch, one per per-sample prompt.
    assert run["groups"] == 2 * batches + prompts
    assert run["tau"] > 0.3 and run["raises"], "the schedule moved on the shared state"
    with httpx.Client(base_url=topology.url, headers=AUTH, timeout=30.0) as c:
        replay = post_with_retries(c, "/v1/rewards/iou", _batch(0))
        assert replay.json()["schedule"]["replayed"] is True
        assert c.get("/v1/runs/rep").json()["groups"] == run["groups"]

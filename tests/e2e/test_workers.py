"""Two uvicorn worker processes behave as one server for per-sample traffic (``group_size``)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from schedulers.stores import open_store
from tests.e2e.conftest import ALICE, Server, server_env

PROMPTS, G = 32, 8
PROMPT = "<|im_start|>user\n<|image_pad|>Box the lesion ({p}).<|im_end|>\n<|im_start|>assistant\n"


def _query(p: int, k: int) -> str:
    # Each sample's IoU against [10, 10, 50, 50] differs, so a group's samples can be told apart.
    return PROMPT.format(p=p) + f"<think>t</think><answer>[10, 10, 50, {20 + 4 * k}]</answer>"


def closed_window(db: Path, run_id: str) -> list[Any]:
    """Alice's run's MedLoc-R1 window, read from the store after the server stopped, with no group left open."""
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.pending_groups("alice", run_id) == 0
        return list(store.get_state("alice", run_id)["state"]["window"])
    finally:
        store.close()


@pytest.mark.slow
def test_32_prompts_x_8_per_sample_requests_make_32_whole_groups(tmp_path: Path) -> None:
    srv = Server(tmp_path / "runs.db", server_env(MEDREWARD_LOAD_MODELS="false"), ["--workers", "2"]).start()
    try:
        with httpx.Client(base_url=srv.url, headers=ALICE, timeout=60.0) as c:
            made = c.post("/v1/runs", json={"run_id": "ps", "scheduler": "medloc", "config": {"window": 64}})
            assert made.status_code == 201, made.text
        samples = [(p, k) for p in range(PROMPTS) for k in range(G)]
        random.Random(3).shuffle(samples)

        def send(sample: tuple[int, int]) -> None:
            p, k = sample
            body = {
                "query": [_query(p, k)],
                "prompts": [PROMPT.format(p=p)],
                "labels": [{"boxes": [[10, 10, 50, 50]]}],
            }
            # A fresh connection per request: uvicorn's workers share the socket, the kernel spreads them.
            resp = httpx.post(
                f"{srv.url}/openrlhf/grounding-medloc?run_id=ps&group_size={G}&step=1", json=body, headers=ALICE
            )
            assert resp.status_code == 200, resp.text

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, samples))
        with httpx.Client(base_url=srv.url, headers=ALICE, timeout=60.0) as c:
            run = c.get("/v1/runs/ps").json()
        assert run["groups"] == PROMPTS, run
    finally:
        assert srv.stop() == 0, srv.logs()
    window = closed_window(tmp_path / "runs.db", "ps")
    assert len(window) == PROMPTS
    assert sorted(len(ious) for _, _, ious in window) == [G] * PROMPTS, "no group split between the workers"
    assert len({tuple(sorted(ious)) for _, _, ious in window}) == 1, "every group holds its 8 distinct samples"
    assert srv.logs().count("medreward ready") == 2, "two workers served"


@pytest.mark.slow
def test_per_sample_iou_into_a_new_run_with_retries_counts_each_group_once(tmp_path: Path) -> None:
    """``POST /v1/rewards/iou`` with a run_id takes the fast path: run created on first use by
    whichever worker gets there first, every sample retried once, each group reported once."""
    srv = Server(tmp_path / "runs.db", server_env(MEDREWARD_LOAD_MODELS="false"), ["--workers", "2"]).start()
    prompts = 16
    samples = [(p, k, attempt) for p in range(prompts) for k in range(G) for attempt in range(2)]
    random.Random(5).shuffle(samples)

    def send(sample: tuple[int, int, int]) -> dict[str, object]:
        p, k, _ = sample
        item = {
            "completion": f"<think>t</think><answer>[10, 10, 50, {20 + 4 * k}]</answer>",
            "boxes": [[10, 10, 50, 50]],
            "group": f"prompt-{p}",
        }
        body = {"items": [item], "run_id": "fresh", "group_size": G, "step": 1, "request_id": f"s1-p{p}-k{k}"}
        resp = httpx.post(f"{srv.url}/v1/rewards/iou", json=body, headers=ALICE, timeout=60.0)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(send, samples))
        with httpx.Client(base_url=srv.url, headers=ALICE, timeout=60.0) as c:
            run = c.get("/v1/runs/fresh").json()
    finally:
        assert srv.stop() == 0, srv.logs()
    assert run["groups"] == prompts and run["scheduler"] == "medloc", run
    # Each sample's two attempts got the same reward; one of them was the retry.
    by_sample: dict[tuple[int, int], list[object]] = {}
    for (p, k, _), answer in zip(samples, answers, strict=True):
        by_sample.setdefault((p, k), []).append(answer["rewards"])
    assert all(len(set(map(str, r))) == 1 for r in by_sample.values())
    assert sum(a["schedule"]["replayed"] for a in answers) == prompts * G  # type: ignore[index]
    window = closed_window(tmp_path / "runs.db", "fresh")
    assert sorted(len(ious) for _, _, ious in window) == [G] * prompts, "no group split or doubled"

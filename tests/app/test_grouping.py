"""Per-sample traffic assembled into whole GRPO groups for the run schedulers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.grouping import GroupBuffer
from schedulers.stores import open_store
from tests.app.conftest import make_client

ANSWER_HIT = "<think>t</think><answer>[10, 10, 50, 50]</answer>"
ANSWER_MISS = "<think>t</think><answer>[60, 60, 90, 90]</answer>"
PROMPT = "<|im_start|>user\n<|image_pad|>Box it.<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize(
    ("arrivals", "size", "ready_after"),
    [
        ([1, 1, 1, 1], 4, [False, False, False, True]),
        ([2, 2], 4, [False, True]),
        ([3, 3], 4, [False, True]),  # more than G (a retry): reported once, with all it got
        ([1], 1, [True]),
    ],
    ids=["one by one", "two by two", "overfull", "group of one"],
)
def test_buffer_releases_complete_groups(arrivals: list[int], size: int, ready_after: list[bool]) -> None:
    buf = GroupBuffer()
    got = [bool(buf.add(("t", "r", "g"), [0.5] * n, size, step=1)) for n in arrivals]
    assert got == ready_after
    assert buf.pending("t", "r") == 0


def test_buffer_bounded_and_drained() -> None:
    buf = GroupBuffer(max_pending=2)
    assert buf.add(("t", "r", "a"), [0.1], 4, None) == []
    assert buf.add(("t", "r", "b"), [0.2], 4, None) == []
    evicted = buf.add(("t", "r", "c"), [0.3], 4, 7)
    assert [(e.key[2], e.ious, e.complete) for e in evicted] == [("a", [0.1], False)]
    assert [d.key[2] for d in buf.drain()] == ["b", "c"]
    assert buf.pending("t", "r") == 0


def _openrlhf(client: TestClient, prompt_id: int, hit: bool, group_size: int | None) -> dict[str, object]:
    prompt = PROMPT.replace("Box it.", f"Box it ({prompt_id}).")
    query = prompt + (ANSWER_HIT if hit else ANSWER_MISS)
    extra = f"&group_size={group_size}" if group_size else ""
    resp = client.post(
        f"/openrlhf/grounding-medloc?run_id=ps{group_size}{extra}",
        json={"query": [query], "prompts": [prompt], "labels": [{"boxes": [[10, 10, 50, 50]]}]},
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_group_reported_when_complete(client: TestClient) -> None:
    for i, hit in enumerate([True, False, True]):
        out = _openrlhf(client, 0, hit, 4)
        assert out["extra_logs"]["iou"] == [1.0 if hit else 0.0]  # scored at once  # type: ignore[index]
        assert client.get("/v1/runs/ps4").json()["groups"] == 0, f"counted after {i + 1} of 4"
    _openrlhf(client, 0, True, 4)
    assert client.get("/v1/runs/ps4").json()["groups"] == 1


@pytest.mark.parametrize(
    ("group_size", "rises"),
    [(8, True), (None, False)],
    ids=["whole groups: tau rises", "one-sample groups never look stable: tau stays"],
)
def test_medloc_with_per_sample_traffic(client: TestClient, group_size: int | None, rises: bool) -> None:
    # A policy that hits 7 of 8 samples per prompt: MedLoc-R1 should tighten tau.
    for prompt_id in range(40):
        for sample in range(8):
            _openrlhf(client, prompt_id, sample != 3, group_size)
    tau = client.get(f"/v1/runs/ps{group_size}").json()["tau"]
    assert (tau > 0.3) is rises


def test_partial_groups_reported_at_shutdown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with make_client(store_url=url) as c:
        _openrlhf(c, 0, True, 8)
        _openrlhf(c, 0, True, 8)
        assert c.get("/v1/runs/ps8").json()["groups"] == 0
    store = open_store(url)
    try:
        assert store.get_run("default", "ps8")["groups"] == 1
    finally:
        store.close()


def test_buffer_ignores_a_retried_request() -> None:
    buf = GroupBuffer()
    assert buf.add(("t", "r", "g"), [0.9], 2, None, token="req-1") == []
    assert buf.add(("t", "r", "g"), [0.9], 2, None, token="req-1") == []  # the retry adds nothing
    ready = buf.add(("t", "r", "g"), [0.4], 2, None, token="req-2")
    assert [r.ious for r in ready] == [[0.9, 0.4]]


def test_v1_per_sample_with_group_size(client: TestClient) -> None:
    client.post("/v1/runs", json={"run_id": "v1ps", "scheduler": "fixed", "config": {"tau": 0.5}})
    item = {"completion": ANSWER_HIT, "boxes": [[10, 10, 50, 50]], "group": "prompt-7"}
    for i in (0, 0, 1):  # the second post is a retry of the first
        body = {"items": [item], "run_id": "v1ps", "group_size": 2, "request_id": f"s{i}"}
        out = client.post("/v1/rewards/iou", json=body).json()
        assert out["rewards"] == [1.0]
    assert out["schedule"]["reported"] == ["prompt-7"]
    assert client.get("/v1/runs/v1ps").json()["groups"] == 1

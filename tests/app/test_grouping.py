"""Per-sample traffic assembled into whole GRPO groups for the run schedulers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from schedulers.stores import open_store
from tests.app.conftest import ALICE, BOB, make_client

ANSWER_HIT = "<think>t</think><answer>[10, 10, 50, 50]</answer>"
ANSWER_MISS = "<think>t</think><answer>[60, 60, 90, 90]</answer>"
PROMPT = "<|im_start|>user\n<|image_pad|>Box it.<|im_end|>\n<|im_start|>assistant\n"


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


def test_open_groups_outlive_a_restart_and_close_by_the_timeout(tmp_path: Path) -> None:
    """A durable store keeps a stopped worker's open groups (other workers may complete them); the rule closes them."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with make_client(store_url=url) as c:
        _openrlhf(c, 0, True, 8)
        _openrlhf(c, 0, True, 8)
        assert c.get("/v1/runs/ps8").json()["groups"] == 0
    store = open_store(url)
    try:
        assert store.get_run("default", "ps8")["groups"] == 0 and store.pending_groups("default", "ps8") == 1
    finally:
        store.close()
    with make_client(store_url=url, group_timeout_s=0.3) as c:
        deadline = time.monotonic() + 10
        while c.get("/v1/runs/ps8").json()["groups"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # the background sweep of quiet runs
        assert c.get("/v1/runs/ps8").json()["groups"] == 1


def test_memory_store_reports_open_groups_at_shutdown() -> None:
    c = make_client()
    with c:
        _openrlhf(c, 0, True, 8)
        store = c.app.state.store  # type: ignore[attr-defined]
        assert store.get_run("default", "ps8")["groups"] == 0
    assert store.get_run("default", "ps8")["groups"] == 1


def test_a_tenant_never_pays_for_nor_fails_on_another_tenants_groups(keyed: TestClient) -> None:
    item = {"completion": ANSWER_HIT, "boxes": [[10, 10, 50, 50]], "group": "g"}
    body = {"items": [item], "run_id": "shared-name", "group_size": 4}
    run = {"run_id": "shared-name", "scheduler": "fixed", "config": {"tau": 0.5}}
    for headers in (ALICE, BOB):
        keyed.post("/v1/runs", json=run, headers=headers)
        assert keyed.post("/v1/rewards/iou", json=body, headers=headers).status_code == 200
    assert keyed.delete("/v1/runs/shared-name", headers=ALICE).status_code in (200, 204)
    out = keyed.post("/v1/rewards/iou", json=body, headers=BOB)
    assert out.status_code == 200, out.text
    assert out.json()["schedule"]["pending"] == 1 and out.json()["schedule"]["reported"] == []


def test_v1_per_sample_with_group_size(client: TestClient) -> None:
    client.post("/v1/runs", json={"run_id": "v1ps", "scheduler": "fixed", "config": {"tau": 0.5}})
    item = {"completion": ANSWER_HIT, "boxes": [[10, 10, 50, 50]], "group": "prompt-7"}
    for i in (0, 0, 1):  # the second post is a retry of the first
        body = {"items": [item], "run_id": "v1ps", "group_size": 2, "request_id": f"s{i}"}
        out = client.post("/v1/rewards/iou", json=body).json()
        assert out["rewards"] == [1.0]
    assert out["schedule"]["reported"] == ["prompt-7"]
    assert client.get("/v1/runs/v1ps").json()["groups"] == 1

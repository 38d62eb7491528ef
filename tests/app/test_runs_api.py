"""Runs over HTTP: scheduled IoU scoring, idempotent retries, τ raises, reset, delete."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def _box_item(group: str, hit: bool) -> dict[str, Any]:
    pred = "[10, 10, 50, 50]" if hit else "[60, 60, 90, 90]"
    return {"completion": f"<think>t</think><answer>{pred}</answer>", "boxes": [[10, 10, 50, 50]], "group": group}


def test_run_lifecycle(client: TestClient) -> None:
    created = client.post("/v1/runs", json={"scheduler": "medloc"})
    assert created.status_code == 201
    run_id = created.json()["run_id"]
    assert created.json()["tau"] == pytest.approx(0.3)  # MedLoc-R1: tau0 = 0.3
    assert client.post("/v1/runs", json={"run_id": run_id}).status_code == 409
    assert [r["run_id"] for r in client.get("/v1/runs").json()["runs"]] == [run_id]
    assert client.get(f"/v1/runs/{run_id}/history").json() == {"run_id": run_id, "history": []}
    assert client.post(f"/v1/runs/{run_id}/reset").json()["groups"] == 0
    assert client.delete(f"/v1/runs/{run_id}").status_code == 204
    assert client.get(f"/v1/runs/{run_id}").status_code == 404


def test_scheduled_iou_groups_and_replay(client: TestClient) -> None:
    client.post("/v1/runs", json={"run_id": "g", "scheduler": "fixed", "config": {"tau": 0.5}})
    items = [_box_item("p1", True), _box_item("p1", False), _box_item("p2", True)]
    body = {"items": items, "run_id": "g", "request_id": "step1-rank0", "step": 1}
    first = client.post("/v1/rewards/iou", json=body).json()
    assert first["rewards"] == [1.0, 0.0, 1.0]
    assert first["schedule"]["groups"] == 2 and first["schedule"]["replayed"] is False
    assert first["details"][0]["iou"] == pytest.approx(1.0) and first["details"][0]["tau"] == 0.5
    again = client.post("/v1/rewards/iou", json=body).json()
    assert again["rewards"] == first["rewards"]
    assert again["schedule"]["replayed"] is True
    assert client.get("/v1/runs/g").json()["groups"] == 2  # the retry counted nothing


def test_ungrouped_items_are_their_own_groups(client: TestClient) -> None:
    client.post("/v1/runs", json={"run_id": "u", "scheduler": "fixed"})
    items = [{k: v for k, v in _box_item("x", True).items() if k != "group"}] * 3
    client.post("/v1/rewards/iou", json={"items": items, "run_id": "u"})
    assert client.get("/v1/runs/u").json()["groups"] == 3


def test_medloc_tau_rises_with_accurate_groups(client: TestClient) -> None:
    client.post("/v1/runs", json={"run_id": "m", "scheduler": "medloc"})
    tau = 0.3
    for step in range(40):  # MedLoc-R1: the window (N=30) must fill before a raise
        items = [_box_item(f"s{step}", True) for _ in range(4)]
        out = client.post(
            "/v1/score", json={"profile": "grounding-medloc", "items": items, "run_id": "m", "step": step}
        )
        assert out.status_code == 200, out.text
        tau = out.json()["schedule"]["tau"]
    assert tau > 0.3
    state = client.get("/v1/runs/m").json()
    assert state["tau"] == pytest.approx(tau) and state["raises"]
    assert client.get("/v1/runs/m/history").json()["history"][0]["tau_before"] == pytest.approx(0.3)
    metrics = client.get("/metrics").text
    assert 'medreward_run_tau{run_id="m",tenant="default"}' in metrics


def test_two_iou_components_count_a_group_once(client: TestClient) -> None:
    client.post("/v1/runs", json={"run_id": "twice", "scheduler": "fixed", "config": {"tau": 0.5}})
    prof = {
        "components": [
            {"reward": "iou", "name": "scheduled"},
            {"reward": "iou", "name": "giou", "params": {"metric": "giou", "mode": "continuous"}},
        ]
    }
    items = [_box_item("g1", True), _box_item("g1", False)]
    out = client.post("/v1/score", json={"profile": prof, "items": items, "run_id": "twice"}).json()
    assert out["components"]["scheduled"] == [1.0, 0.0]
    assert out["schedule"]["groups"] == 1
    assert client.get("/v1/runs/twice").json()["groups"] == 1


def test_unknown_run_names_the_callers_runs(client: TestClient) -> None:
    client.post("/v1/runs", json={"run_id": "exp-a"})
    err = client.get("/v1/runs/exp-b").json()["error"]
    assert err["code"] == "run_not_found" and "exp-a" in err["message"]

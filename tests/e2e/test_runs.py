"""MedLoc-R1 runs against a live server: τ rises over simulated training, retries, tenancy, restarts."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ALICE, Server, server_env

REF = [100.0, 100.0, 200.0, 200.0]


def predicted_box(iou: float) -> list[float]:
    """A box of the reference's size shifted along x so that IoU(pred, REF) = iou (for iou in (0, 1])."""
    # Overlap width w of two 100-wide boxes: IoU = w / (200 - w)  →  w = 200·iou / (1 + iou).
    w = 200.0 * iou / (1.0 + iou)
    dx = 100.0 - w
    return [REF[0] + dx, REF[1], REF[2] + dx, REF[3]]


def group_items(step: int, prompt: int, skill: float, rng: random.Random, g: int = 8) -> list[dict[str, Any]]:
    items = []
    for _ in range(g):
        iou = min(0.99, max(0.01, rng.gauss(skill, 0.05)))
        box = ", ".join(f"{v:.2f}" for v in predicted_box(iou))
        items.append(
            {"completion": f"<think>t</think><answer>[{box}]</answer>", "boxes": [REF], "group": f"{step}-{prompt}"}
        )
    return items


@pytest.mark.slow
def test_medloc_tau_rises_over_simulated_training(alice: httpx.Client) -> None:
    assert alice.post("/v1/runs", json={"run_id": "sim", "scheduler": "medloc"}).status_code == 201
    rng = random.Random(0)
    taus = []
    for step in range(60):
        skill = min(0.95, 0.45 + step * 0.01)  # the policy localises better as training goes on
        items = [it for p in range(4) for it in group_items(step, p, skill, rng)]
        body = {
            "profile": "grounding-medloc",
            "items": items,
            "run_id": "sim",
            "step": step,
            "request_id": f"sim-{step}",
        }
        resp = alice.post("/v1/score", json=body)
        assert resp.status_code == 200, resp.text
        taus.append(resp.json()["schedule"]["tau"])
    assert taus[0] == pytest.approx(0.3)  # MedLoc-R1: τ₀ = 0.3
    assert taus[-1] > taus[0]
    assert taus == sorted(taus)  # τ never goes down
    run = alice.get("/v1/runs/sim").json()
    assert run["groups"] == 60 * 4 and run["raises"]
    history = alice.get("/v1/runs/sim/history").json()["history"]
    assert [h["tau_after"] for h in history][-1] == pytest.approx(taus[-1])
    assert f'medreward_run_tau{{run_id="sim",tenant="alice"}} {taus[-1]}' in alice.get("/metrics").text


def test_idempotent_retries_under_concurrency(alice: httpx.Client, server: Server) -> None:
    alice.post("/v1/runs", json={"run_id": "retry", "scheduler": "fixed", "config": {"tau": 0.5}})
    items = group_items(0, 0, 0.7, random.Random(1))
    body = {"items": items, "run_id": "retry", "request_id": "step0-rank3", "step": 0}

    def post(_: int) -> dict[str, Any]:
        with httpx.Client(base_url=server.url, headers=ALICE, timeout=60) as c:
            r = c.post("/v1/rewards/iou", json=body)
            assert r.status_code == 200, r.text
            return dict(r.json())

    with ThreadPoolExecutor(8) as pool:  # a trainer retrying the same batch 8 times at once
        results = list(pool.map(post, range(8)))
    assert all(r["rewards"] == results[0]["rewards"] for r in results)
    assert sum(not r["schedule"]["replayed"] for r in results) == 1
    assert alice.get("/v1/runs/retry").json()["groups"] == 1


def test_tenant_isolation(alice: httpx.Client, bob: httpx.Client) -> None:
    alice.post("/v1/runs", json={"run_id": "iso", "scheduler": "medloc"})
    assert bob.get("/v1/runs/iso").status_code == 404
    assert bob.post("/v1/runs/iso/reset").status_code == 404
    assert bob.get("/v1/runs/iso/history").status_code == 404
    assert "iso" not in [r["run_id"] for r in bob.get("/v1/runs").json()["runs"]]
    # Bob reporting under the same id creates his own run on first use; Alice's is untouched.
    report = {"items": group_items(0, 0, 0.9, random.Random(2)), "run_id": "iso"}
    assert bob.post("/v1/rewards/iou", json=report).status_code == 200
    assert bob.get("/v1/runs/iso").json()["groups"] == 1
    assert alice.get("/v1/runs/iso").json()["groups"] == 0
    assert httpx.get(f"{alice.base_url}/v1/runs/iso", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.slow
def test_restart_keeps_every_run(tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    first = Server(db, server_env(MEDREWARD_LOAD_MODELS="false")).start()
    before: dict[str, Any] = {}
    last_sent: dict[str, list[dict[str, Any]]] = {}
    try:
        with httpx.Client(base_url=first.url, headers=ALICE, timeout=60) as c:
            rng = random.Random(3)
            for run_id, sched in (("keep-medloc", "medloc"), ("keep-fixed", "fixed")):
                assert c.post("/v1/runs", json={"run_id": run_id, "scheduler": sched}).status_code == 201
                for step in range(35):
                    items = last_sent[run_id] = group_items(step, 0, 0.85, rng)
                    c.post(
                        "/v1/rewards/iou",
                        json={"items": items, "run_id": run_id, "step": step, "request_id": f"{run_id}-{step}"},
                    )
                before[run_id] = (c.get(f"/v1/runs/{run_id}").json(), c.get(f"/v1/runs/{run_id}/history").json())
            c.put("/v1/profiles/kept", json={"components": [{"reward": "iou"}]})
    finally:
        assert first.stop() == 0, first.logs()
    assert before["keep-medloc"][0]["tau"] > 0.3  # something worth keeping happened
    second = Server(db, server_env(MEDREWARD_LOAD_MODELS="false")).start()
    try:
        with httpx.Client(base_url=second.url, headers=ALICE, timeout=60) as c:
            for run_id, (state, history) in before.items():
                assert c.get(f"/v1/runs/{run_id}").json() == state
                assert c.get(f"/v1/runs/{run_id}/history").json() == history
            assert c.get("/v1/profiles/kept").json()["source"] == "tenant"
            # A retry of a report made before the restart is still recognised (the same items, as a
            # trainer's retry sends them); other items under that id are a conflict, not a replay.
            retry = {"items": last_sent["keep-fixed"], "run_id": "keep-fixed", "request_id": "keep-fixed-34"}
            again = c.post("/v1/rewards/iou", json=retry)
            assert again.json()["schedule"]["replayed"] is True
            other = {**retry, "items": group_items(34, 0, 0.85, random.Random(99))}
            assert c.post("/v1/rewards/iou", json=other).status_code == 409
            assert c.get("/v1/runs/keep-fixed").json()["groups"] == before["keep-fixed"][0]["groups"]
    finally:
        assert second.stop() == 0, second.logs()

"""GET/PUT /v1/runs/{id}/state over each store: a trainer's checkpoint restores τ, window (raw IoUs) and raises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import ALICE, BOB, KEYS, make_client
from tests.schedulers.redis_server import running_redis


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["memory", "sqlite", "redis"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """Two tenants (alice, bob) over each store."""
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.db'}"
    else:
        url = request.getfixturevalue("redis_url") + f"?prefix=t{tmp_path.name}"
    with make_client(store_url=url, api_keys=KEYS) as c:
        yield c


# A quick medloc schedule: a full window of 2 accurate groups raises τ 0.3 → 0.45.
QUICK = {"window": 2}


def _report(c: TestClient, run: str, step: int, iou_box: str = "[10, 10, 50, 50]") -> dict[str, Any]:
    items = [
        {"completion": f"<think>t</think><answer>{iou_box}</answer>", "boxes": [[10, 10, 50, 50]], "group": f"s{step}"}
    ] * 2
    body = {"items": items, "params": {"mode": "threshold"}, "run_id": run, "step": step, "request_id": f"r{step}"}
    resp = c.post("/v1/rewards/iou", json=body, headers=ALICE)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_checkpoint_and_restore_round_trip(api: TestClient) -> None:
    api.post("/v1/runs", json={"run_id": "exp", "scheduler": "medloc", "config": QUICK}, headers=ALICE)
    _report(api, "exp", 0, "[10, 10, 40, 50]")  # IoU 0.75
    checkpoint = api.get("/v1/runs/exp/state", headers=ALICE).json()
    assert checkpoint["scheduler"] == "medloc" and checkpoint["config"]["window"] == 2
    assert checkpoint["state"]["window"][0][2] == pytest.approx([0.75, 0.75]), "raw IoUs are kept"
    _report(api, "exp", 1)  # the window is full and accurate: τ rises
    assert api.get("/v1/runs/exp", headers=ALICE).json()["tau"] == pytest.approx(0.45)

    restored = api.put("/v1/runs/exp/state", json=checkpoint, headers=ALICE)
    assert restored.status_code == 200, restored.text
    run = restored.json()
    assert (run["tau"], run["groups"], run["step"], run["raises"]) == (pytest.approx(0.3), 1, 0, [])
    assert api.get("/v1/runs/exp/state", headers=ALICE).json() == checkpoint
    again = _report(api, "exp", 1)
    assert again["schedule"]["replayed"] is False, "reports after the checkpoint count again"


def test_restore_creates_an_absent_run_for_this_tenant_only(api: TestClient) -> None:
    api.post("/v1/runs", json={"run_id": "src", "scheduler": "medloc", "config": QUICK}, headers=ALICE)
    for step in range(2):
        _report(api, "src", step)
    checkpoint = api.get("/v1/runs/src/state", headers=ALICE).json()
    assert checkpoint["state"]["tau"] == pytest.approx(0.45) and len(checkpoint["state"]["raises"]) == 1
    checkpoint["run_id"] = None

    created = api.put("/v1/runs/copy/state", json=checkpoint, headers=BOB)
    assert created.status_code == 200, created.text
    assert created.json()["tau"] == pytest.approx(0.45) and created.json()["raises"][0]["tau_after"] == 0.45
    assert api.get("/v1/runs/copy", headers=ALICE).status_code == 404, "another tenant's run stays invisible"
    assert api.get("/v1/runs/src/state", headers=BOB).status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        (lambda d: d["state"].update(tau=2.0), 422, "state"),  # τ above 1
        (lambda d: d["state"].update(window=[["x", 0.5, [0.5]]]), 422, "state"),  # garbage window entry
        (lambda d: d.pop("state"), 422, "state"),  # no state at all
        (lambda d: d.update(scheduler="cosine"), 422, "scheduler"),  # no such scheduler
        (lambda d: d["config"].update(tau0=-1), 422, "config.tau0"),  # invalid config
        (lambda d: d.update(run_id="other"), 422, "run_id"),  # body names another run
        (lambda d: d.update(extra=1), 422, "extra"),  # unknown field
    ],
    ids=["tau", "window", "no-state", "scheduler", "config", "run-id", "extra"],
)
def test_a_bad_document_is_422_and_creates_nothing(api: TestClient, change: Any, status: int, field: str) -> None:
    api.post("/v1/runs", json={"run_id": "src", "scheduler": "medloc", "config": QUICK}, headers=ALICE)
    doc = api.get("/v1/runs/src/state", headers=ALICE).json()
    doc["run_id"] = None
    change(doc)
    resp = api.put("/v1/runs/new/state", json=doc, headers=ALICE)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["field"] == field
    assert api.get("/v1/runs/new", headers=ALICE).status_code == 404


def test_restoring_under_another_config_is_a_conflict(api: TestClient) -> None:
    api.post("/v1/runs", json={"run_id": "exp", "scheduler": "medloc", "config": QUICK}, headers=ALICE)
    doc = api.get("/v1/runs/exp/state", headers=ALICE).json()
    doc["config"]["window"] = 30
    resp = api.put("/v1/runs/exp/state", json=doc, headers=ALICE)
    assert resp.status_code == 409 and "delete it first" in resp.json()["error"]["message"]
    assert api.get("/v1/runs/exp", headers=ALICE).json()["config"]["window"] == 2

"""Each registered reward over HTTP gives what ``scorers.score`` gives in-process."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from scorers import REGISTRY, score

NAMES = sorted(REGISTRY)


def _items(name: str) -> list[dict[str, Any]]:
    items = [dict(e) for e in REGISTRY[name].examples] or [{"completion": "<think>x</think><answer>y</answer>"}]
    # An item no reward can judge fully: rewards must answer (null or a value), never fail the batch.
    return [*({k: list(v) if isinstance(v, tuple) else v for k, v in it.items()} for it in items), {"completion": ""}]


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_every_reward_matches_in_process(client: TestClient, name: str) -> None:
    items = _items(name)
    resp = client.post(f"/v1/rewards/{name}", json={"items": items})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    expected = [s.reward for s in score(name, items)]
    assert body["rewards"] == pytest.approx(expected)
    assert len(body["status"]) == len(body["details"]) == len(items)
    lo, hi = REGISTRY[name].range
    assert all(r is None or lo <= r <= hi for r in body["rewards"])


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_every_reward_listed_with_schema(client: TestClient, name: str) -> None:
    listed = {r["name"]: r for r in client.get("/v1/rewards").json()["rewards"]}
    assert listed[name]["range"] == list(REGISTRY[name].range)
    assert listed[name]["params_schema"]["type"] == "object"
    assert client.get(f"/v1/rewards/{name}").json()["name"] == name


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_every_reward_empty_batch(client: TestClient, name: str) -> None:
    resp = client.post(f"/v1/rewards/{name}", json={"items": []})
    assert resp.status_code == 200
    assert resp.json()["rewards"] == []


CASES = [
    # (reward, item, params, expected reward, note)
    ("format", {"completion": "<think>lobar opacity</think><answer>pneumonia</answer>"}, {}, 1.0, "well formed"),
    ("format", {"completion": "pneumonia"}, {"mode": "strict"}, 0.0, "no tags at all"),
    ("iou", {"completion": "<answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 50]]}, {}, 1.0, "exact box"),
    (
        "iou",
        {"completion": "<answer>[100, 100, 150, 150]</answer>", "boxes": [[10, 10, 50, 50]]},
        {},
        0.0,
        "disjoint box",
    ),
    (
        "iou",
        {"completion": "<answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 90]]},
        {"mode": "threshold", "tau": 0.6},
        0.0,
        "IoU 0.5 under tau 0.6",
    ),
    ("iou", {"completion": "<answer>no box</answer>", "boxes": [[10, 10, 50, 50]]}, {}, 0.0, "no box = miss"),
    ("answer", {"completion": "<answer>no</answer>", "reference": "no", "kind": "closed"}, {}, 1.0, "closed match"),
    (
        "answer",
        {
            "completion": "<answer>left pleural effusion</answer>",
            "reference": "right pleural effusion",
            "kind": "open",
        },
        {},
        0.0,
        "laterality flip is wrong",
    ),
    (
        "answer",
        {"completion": "<answer>no pneumothorax</answer>", "reference": "pneumothorax", "kind": "open"},
        {},
        0.0,
        "negation flip is wrong",
    ),
    (
        "answer",
        {"completion": "<answer>12 mm</answer>", "reference": "1.2 cm", "kind": "numeric"},
        {},
        1.0,
        "units converted",
    ),
    (
        "answer",
        {
            "completion": "<answer>moderate</answer>",
            "reference": "severe",
            "kind": "ordinal",
            "grades": ["none", "mild", "moderate", "severe"],
        },
        {},
        0.5,
        "one grade off: partial credit",
    ),
    (
        "semantic",
        {"completion": "<answer>no pneumothorax</answer>", "reference": "pneumothorax"},
        {},
        0.0,
        "semantic: negation conflict scores low",
    ),
    ("length", {"completion": "x " * 50}, {"mode": "range", "min_len": 10, "max_len": 100}, 1.0, "inside the band"),
    (
        "length",
        {"completion": "x " * 500},
        {"mode": "overlong", "max_len": 100, "cache_len": 50},
        -1.0,
        "DAPO overlong past the cache: full penalty",
    ),
]


@pytest.mark.parametrize(
    ("reward", "item", "params", "expected"),
    [c[:4] for c in CASES],
    ids=[c[4] for c in CASES],
)
def test_clinical_cases(
    client: TestClient, reward: str, item: dict[str, Any], params: dict[str, Any], expected: float
) -> None:
    resp = client.post(f"/v1/rewards/{reward}", json={"items": [item], "params": params})
    assert resp.status_code == 200, resp.text
    assert resp.json()["rewards"][0] == pytest.approx(expected)


def test_iou_without_reference_abstains(client: TestClient) -> None:
    body = client.post("/v1/rewards/iou", json={"items": [{"completion": "<answer>[1,2,3,4]</answer>"}]}).json()
    assert body["rewards"] == [None]
    assert body["status"] == ["unscorable"]
    assert body["details"][0]["reason"]


def test_recitation_without_knowledge_abstains(client: TestClient) -> None:
    body = client.post(
        "/v1/rewards/recitation", json={"items": [{"completion": "<think>t</think><answer>x</answer>"}]}
    )
    assert body.json()["rewards"] == [None]
    assert body.json()["status"] == ["unscorable"]


@pytest.mark.parametrize("path", ["/v1/rewards/iou", "/v1/rewards/iou?via=full-stack"])
def test_details_false_leaves_them_out_and_keeps_the_reasons(client: TestClient, path: str) -> None:
    items = [{"completion": "<answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 50]]}, {"completion": "x"}]
    full = client.post(path, json={"items": items}).json()
    lean = client.post(path, json={"items": items, "details": False}).json()
    assert lean["rewards"] == full["rewards"] == [1.0, None]
    assert lean["status"] == full["status"] == ["ok", "unscorable"]
    assert lean["reasons"] == full["reasons"] == [None, full["details"][1]["reason"]]
    assert full["reasons"][1].startswith("no reference boxes")
    assert lean["details"] is None and len(full["details"]) == 2


def test_details_false_on_a_profile(client: TestClient) -> None:
    items = [{"completion": "<think>a</think><answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 50]]}]
    body = {"profile": "grounding-medloc", "items": items}
    full = client.post("/v1/score", json=body).json()
    lean = client.post("/v1/score", json=body | {"details": False}).json()
    assert lean["details"] is None and full["details"][0]["iou"]["iou"] == 1.0
    assert {k: v for k, v in lean.items() if k != "details"} == {k: v for k, v in full.items() if k != "details"}

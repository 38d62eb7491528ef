"""Each reward, composite scoring and profiles against a live server (SQLite store)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from scorers import REGISTRY, score

NAMES = sorted(REGISTRY)


def _examples(name: str) -> list[dict[str, Any]]:
    out = []
    for ex in REGISTRY[name].examples:
        out.append({k: list(v) if isinstance(v, tuple) else v for k, v in ex.items()})
    return out or [{"completion": "<think>a</think><answer>b</answer>"}]


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_each_reward_over_http_equals_in_process(alice: httpx.Client, name: str) -> None:
    items = _examples(name)
    resp = alice.post(f"/v1/rewards/{name}", json={"items": items})
    assert resp.status_code == 200, resp.text
    assert resp.json()["rewards"] == pytest.approx([s.reward for s in score(name, items)])


CLINICAL = [
    # (profile, item, expected total, note)
    (
        "vqa-closed",
        {"completion": "<think>pleural line</think><answer>yes</answer>", "reference": "yes"},
        1.0,
        "closed: right answer, well formed",
    ),
    (
        "vqa-closed",
        {"completion": "<think>pleural line</think><answer>yes</answer>", "reference": "no"},
        0.2,
        "closed: wrong answer keeps only the format weight",
    ),
    (
        "vqa-mcq",
        {
            "completion": "<think>t</think><answer>B</answer>",
            "reference": "Effusion",
            "options": {"A": "Pneumonia", "B": "Effusion"},
        },
        1.0,
        "mcq: letter against option text",
    ),
    (
        "grading",
        {
            "completion": "<think>t</think><answer>moderate</answer>",
            "reference": "severe",
            "grades": ["none", "mild", "moderate", "severe"],
        },
        0.2 + 0.8 * 0.5,
        "ordinal: one grade off",
    ),
    (
        "vqa-open",
        {"completion": "<think>t</think><answer>no pneumothorax</answer>", "reference": "pneumothorax"},
        0.2,
        "open: negation flip scores only the format",
    ),
]


@pytest.mark.parametrize(("profile", "item", "total"), [c[:3] for c in CLINICAL], ids=[c[3] for c in CLINICAL])
def test_presets_clinically(alice: httpx.Client, profile: str, item: dict[str, Any], total: float) -> None:
    resp = alice.post("/v1/score", json={"profile": profile, "items": [item]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["rewards"][0] == pytest.approx(total, abs=1e-6)
    assert set(body["components"]) == {
        c["reward"] for c in alice.get(f"/v1/profiles/{profile}").json()["profile"]["components"]
    }


def test_semantic_reward_is_live(alice: httpx.Client) -> None:
    items = [
        {"completion": "<answer>enlarged heart</answer>", "reference": "cardiomegaly"},
        {"completion": "<answer>no pneumothorax</answer>", "reference": "pneumothorax"},
    ]
    body = alice.post("/v1/rewards/semantic", json={"items": items}).json()
    assert body["rewards"][0] is not None and body["rewards"][1] is not None
    assert body["rewards"][0] > body["rewards"][1]  # a synonym beats a negation flip
    ready = alice.get("/readyz").json()
    assert ready["status"] == "ready" and ready["models"]["loaded"] is True


def test_composite_with_abstention(alice: httpx.Client) -> None:
    prof = {"components": [{"reward": "format", "weight": 1}, {"reward": "answer", "weight": 3}]}
    items = [
        {"completion": "<think>t</think><answer>yes</answer>", "reference": "yes", "kind": "closed"},
        {"completion": "<think>t</think><answer>yes</answer>"},  # no reference: answer abstains
    ]
    body = alice.post("/v1/score", json={"profile": prof, "items": items}).json()
    assert body["components"]["answer"] == [1.0, None]
    # The outcome (answer) abstained: no total, never the format credit alone.
    assert body["rewards"] == [1.0, None]
    assert body["status"] == ["ok", "unscorable"]
    assert body["reasons"] == [None, "required component 'answer' abstained: no reference answer"]


def test_profiles_round_trip_and_scoped(alice: httpx.Client, bob: httpx.Client) -> None:
    prof = {"description": "boxes", "components": [{"reward": "iou", "params": {"metric": "giou"}}], "coords": "norm1"}
    assert alice.put("/v1/profiles/e2e-boxes", json=prof).status_code == 200
    got = alice.get("/v1/profiles/e2e-boxes").json()
    assert got["profile"]["coords"] == "norm1" and got["source"] == "tenant"
    assert bob.get("/v1/profiles/e2e-boxes").status_code == 404
    item = {
        "completion": "<answer>[0.1, 0.1, 0.5, 0.5]</answer>",
        "boxes": [[0.1, 0.1, 0.5, 0.5]],
        "image_size": [512, 512],
    }
    assert alice.post("/v1/score", json={"profile": "e2e-boxes", "items": [item]}).json()["rewards"] == [1.0]
    assert alice.delete("/v1/profiles/e2e-boxes").status_code == 204
    assert alice.get("/v1/profiles/e2e-boxes").status_code == 404

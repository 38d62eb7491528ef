"""Composite scoring: weights renormalised over the components that did not abstain; profiles CRUD."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.presets import PRESETS
from app.profiles import load_file
from tests.app.conftest import make_client

GOOD_BOX = "<think>apex lucency</think><answer>[10, 10, 50, 50]</answer>"
PROFILE = {
    "components": [
        {"reward": "format", "weight": 1.0},
        {"reward": "iou", "weight": 3.0, "params": {"mode": "continuous"}},
    ]
}

CASES: list[tuple[dict[str, Any], float | None, dict[str, float | None], str]] = [
    # (item, total, components, note)
    ({"completion": GOOD_BOX, "boxes": [[10, 10, 50, 50]]}, 1.0, {"format": 1.0, "iou": 1.0}, "both perfect"),
    ({"completion": GOOD_BOX, "boxes": [[100, 100, 150, 150]]}, 0.25, {"format": 1.0, "iou": 0.0}, "missed box"),
    # No reference box: iou (an outcome component) abstains, so the total is null, never format alone.
    ({"completion": GOOD_BOX}, None, {"format": 1.0, "iou": None}, "iou abstains, total null"),
]


@pytest.mark.parametrize(("item", "total", "components"), [c[:3] for c in CASES], ids=[c[3] for c in CASES])
def test_composite_total(
    client: TestClient, item: dict[str, Any], total: float | None, components: dict[str, float | None]
) -> None:
    resp = client.post("/v1/score", json={"profile": PROFILE, "items": [item]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["rewards"][0] == pytest.approx(total)
    if total is None:
        assert body["reasons"][0].startswith("required component 'iou' abstained: no reference boxes")
    else:
        assert body["reasons"] == [None]
    for name, value in components.items():
        assert body["components"][name][0] == pytest.approx(value)
    assert body["weights"] == {"format": 1.0, "iou": 3.0}
    assert set(body["details"][0]) == {"format", "iou"}


def test_all_abstain_gives_null(client: TestClient) -> None:
    prof = {"components": [{"reward": "iou"}]}
    body = client.post("/v1/score", json={"profile": prof, "items": [{"completion": "x"}]}).json()
    assert body["rewards"] == [None]
    assert body["status"] == ["unscorable"]
    assert body["components"] == {"iou": [None]}


@pytest.mark.parametrize(
    ("coords", "expected"),
    [("norm1000", 1.0), ("abs", 0.0)],
    ids=["norm1000: box inside the image", "abs: the same numbers fall outside a 200x100 image"],
)
def test_profile_coords_reach_iou(client: TestClient, coords: str, expected: float) -> None:
    prof = {"components": [{"reward": "iou"}], "coords": coords}
    item = {
        "completion": "<answer>[100, 100, 500, 500]</answer>",
        "boxes": [[100, 100, 500, 500]],
        "image_size": [200, 100],
    }
    body = client.post("/v1/score", json={"profile": prof, "items": [item]}).json()
    assert body["rewards"][0] == pytest.approx(expected)


def test_named_components_may_repeat_a_reward(client: TestClient) -> None:
    prof = {
        "components": [
            {"reward": "iou", "name": "iou_loose", "params": {"mode": "threshold", "tau": 0.3}},
            {"reward": "iou", "name": "iou_strict", "params": {"mode": "threshold", "tau": 0.9}},
        ]
    }
    item = {"completion": "<answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 90]]}  # IoU 0.5
    body = client.post("/v1/score", json={"profile": prof, "items": [item]}).json()
    assert body["components"] == {"iou_loose": [1.0], "iou_strict": [0.0]}
    assert body["rewards"] == [pytest.approx(0.5)]


def test_profile_crud_and_shadowing(client: TestClient) -> None:
    assert client.get("/v1/profiles/mine").status_code == 404
    put = client.put("/v1/profiles/mine", json=PROFILE)
    assert put.status_code == 200 and put.json()["source"] == "tenant"
    assert client.get("/v1/profiles/mine").json()["profile"]["components"][1]["weight"] == 3.0
    names = {p["name"]: p["source"] for p in client.get("/v1/profiles").json()["profiles"]}
    assert names["mine"] == "tenant" and names["grounding-medloc"] == "builtin"
    item = {"completion": GOOD_BOX, "boxes": [[10, 10, 50, 50]]}
    scored = client.post("/v1/score", json={"profile": "mine", "items": [item]})
    assert scored.json()["rewards"] == [1.0]
    # A tenant profile may shadow a preset; deleting it brings the preset back.
    client.put("/v1/profiles/grounding-medloc", json=PROFILE)
    assert client.get("/v1/profiles/grounding-medloc").json()["source"] == "tenant"
    assert client.delete("/v1/profiles/grounding-medloc").status_code == 204
    assert client.get("/v1/profiles/grounding-medloc").json()["source"] == "builtin"
    assert client.delete("/v1/profiles/mine").status_code == 204
    assert client.delete("/v1/profiles/mine").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"components": []}, "components"),
        ({"components": [{"reward": "format", "weight": -1}]}, "components[0].weight"),
        ({"components": [{"reward": "format"}, {"reward": "format"}]}, "body.components[1].name"),
        ({"components": [{"reward": "format"}], "coords": "inches"}, "coords"),
    ],
    ids=["no components", "negative weight", "duplicate component", "unknown coords"],
)
def test_invalid_profiles_rejected(client: TestClient, body: dict[str, Any], field: str) -> None:
    resp = client.put("/v1/profiles/bad", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == field


def test_profiles_file_loaded_at_start(tmp_path: Any) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text("profiles:\n  boxes-only:\n    components:\n      - reward: iou\n        weight: 2\n")
    assert list(load_file(path)) == ["boxes-only"]
    with make_client(profiles_file=path) as c:
        got = c.get("/v1/profiles/boxes-only").json()
        assert got["source"] == "file"
        assert c.delete("/v1/profiles/boxes-only").status_code == 409


def test_every_preset_is_served() -> None:
    # A preset naming an unregistered reward would be left out at start (with a warning).
    with make_client() as c:
        listed = {p["name"]: p for p in c.get("/v1/profiles").json()["profiles"]}
    assert set(PRESETS) <= set(listed)
    assert all(listed[name]["source"] == "builtin" for name in PRESETS)
    assert listed["grounding-medloc"]["profile"]["scheduler"]["type"] == "medloc"

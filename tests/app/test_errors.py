"""Bad input is a 4xx in the one error shape, naming the field; never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import make_client

OK_ITEM = {"completion": "<think>a</think><answer>b</answer>"}

CASES: list[tuple[str, str, Any, int, str, str | None]] = [
    # (method, path, json body, status, code, field)
    ("POST", "/v1/rewards/nope", {"items": []}, 404, "reward_not_found", "name"),
    ("POST", "/v1/rewards/format", {"items": [{"completion": 3}]}, 422, "invalid_field", "items[0].completion"),
    (
        "POST",
        "/v1/rewards/format",
        {"items": [{"completion": "x", "colour": "red"}]},
        422,
        "invalid_field",
        "items[0].colour",
    ),
    (
        "POST",
        "/v1/rewards/format",
        {"items": [OK_ITEM], "params": {"mode": "sloppy"}},
        422,
        "invalid_field",
        "params.mode",
    ),
    ("POST", "/v1/rewards/format", {"items": [OK_ITEM], "extra": 1}, 422, "invalid_field", "extra"),
    ("POST", "/v1/rewards/format", {"items": [OK_ITEM], "run_id": "r1"}, 422, "not_scheduled", "run_id"),
    ("POST", "/v1/rewards/format", None, 422, "invalid_field", None),
    (
        "POST",
        "/v1/rewards/iou",
        {"items": [OK_ITEM, {"completion": "<answer>[1, 1, 5, 5]</answer>", "boxes": [[5, 5, 1, 1]]}]},
        422,
        "invalid_item",
        "items[1].boxes",
    ),
    ("POST", "/v1/score", {"profile": "nope", "items": []}, 404, "profile_not_found", "profile"),
    (
        "POST",
        "/v1/score",
        {"profile": {"components": [{"reward": "nope"}]}, "items": []},
        404,
        "reward_not_found",
        "profile.components[0].reward",
    ),
    (
        "POST",
        "/v1/score",
        {"profile": {"components": [{"reward": "format", "weight": 0}]}, "items": []},
        422,
        "invalid_field",
        "profile.components",
    ),
    (
        "POST",
        "/v1/score",
        {"profile": {"components": [{"reward": "iou", "params": {"mode": "x"}}]}, "items": []},
        422,
        "invalid_field",
        "profile.components[0].params.mode",
    ),
    ("GET", "/v1/runs/nope", None, 404, "run_not_found", "run_id"),
    ("POST", "/v1/runs", {"scheduler": "medloc", "config": {"tau0": "high"}}, 422, "invalid_field", "config.tau0"),
    ("POST", "/v1/runs", {"scheduler": "bogus"}, 422, "invalid_field", "scheduler"),
    ("GET", "/v1/profiles/nope", None, 404, "profile_not_found", "profile"),
    ("DELETE", "/v1/profiles/grounding-medloc", None, 409, "read_only_profile", None),
    ("GET", "/no/such/route", None, 404, "not_found", None),
    (
        "POST",
        "/openrlhf/grounding-medloc",
        {"query": ["a", "b"], "prompts": [], "labels": ["x"]},
        422,
        "length_mismatch",
        "labels",
    ),
    (
        "POST",
        "/openrlhf/grounding-medloc",
        {"query": ["a"], "labels": [{"boxes": "wide"}]},
        422,
        "invalid_field",
        "labels[0].boxes",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "field"),
    CASES,
    ids=[f"{c[0]} {c[1]} -> {c[3]} {c[4]}" for c in CASES],
)
def test_error_shape(
    client: TestClient, method: str, path: str, body: Any, status: int, code: str, field: str | None
) -> None:
    resp = client.request(method, path, json=body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code
    assert err["message"]
    if field is not None:
        assert err["field"] == field


def test_unknown_reward_lists_valid_names(client: TestClient) -> None:
    msg = client.post("/v1/rewards/nope", json={"items": []}).json()["error"]["message"]
    assert "format" in msg and "iou" in msg


def test_malformed_json_is_422(client: TestClient) -> None:
    resp = client.post("/v1/rewards/format", content=b"{not json", headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_field"


LIMITS = [
    # (settings, body, code, field, note)
    ({"max_items": 2}, {"items": [OK_ITEM] * 3}, "too_many_items", "items", "3 items over 2"),
    (
        {"max_completion_chars": 40},
        {"items": [OK_ITEM, {"completion": "x" * 41}]},
        "completion_too_long",
        "items[1].completion",
        "41 chars over 40",
    ),
    (
        {"max_boxes": 2},
        {"items": [{"completion": "x", "boxes": [[0, 0, 1, 1]] * 3}]},
        "too_many_boxes",
        "items[0].boxes",
        "3 boxes over 2",
    ),
    ({"max_body_bytes": 200}, {"items": [{"completion": "y" * 300}]}, "body_too_large", None, "body over 200 B"),
]


@pytest.mark.parametrize(("overrides", "body", "code", "field"), [c[:4] for c in LIMITS], ids=[c[4] for c in LIMITS])
def test_limits_give_413(overrides: dict[str, int], body: dict[str, Any], code: str, field: str | None) -> None:
    with make_client(**overrides) as c:
        resp = c.post("/v1/rewards/format", json=body)
        assert resp.status_code == 413, resp.text
        assert resp.json()["error"] == {"code": code, "message": resp.json()["error"]["message"], "field": field}
        # At the limit is fine.
        assert c.post("/v1/rewards/format", json={"items": [OK_ITEM]}).status_code == 200


def test_body_limit_without_content_length() -> None:
    with make_client(max_body_bytes=100) as c:

        def chunks() -> Any:
            yield b'{"items": [{"completion": "'
            yield b"z" * 200
            yield b'"}]}'

        resp = c.post("/v1/rewards/format", content=chunks(), headers={"content-type": "application/json"})
        assert resp.status_code == 413
        assert resp.json()["error"]["code"] == "body_too_large"

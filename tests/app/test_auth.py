"""API keys → tenants; runs and profiles are tenant-scoped; keys never reach the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.auth import OPEN_TENANT, KeyFileError, KeyRing, parse_keys
from tests.app.conftest import ALICE, BOB

BOX = {"completion": "<answer>[1, 1, 5, 5]</answer>", "boxes": [[1, 1, 5, 5]], "group": "g"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("k1:alice", {"k1": "alice"}), (" k1 : a , k2:b ,", {"k1": "a", "k2": "b"}), ("a:b:c", {"a:b": "c"}), ("", {})],
    ids=["one", "spaces and trailing comma", "colon inside the key", "none"],
)
def test_parse_keys(spec: str, expected: dict[str, str]) -> None:
    assert parse_keys(spec) == expected


@pytest.mark.parametrize("spec", ["nokey", ":tenant", "key:"], ids=["no colon", "empty key", "empty tenant"])
def test_parse_keys_rejects_and_hides_key(spec: str) -> None:
    with pytest.raises(KeyFileError) as err:
        parse_keys(spec)
    assert "nokey" not in str(err.value)


def test_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# team keys\nk-a:alice\n\nk-b:bob  # second\n")
    assert parse_keys("k-c:carol", path) == {"k-c": "carol", "k-a": "alice", "k-b": "bob"}


@pytest.mark.parametrize(
    ("header", "tenant"),
    [("Bearer k1", "alice"), ("bearer k2", "bob"), ("Bearer k1x", None), ("Basic k1", None), (None, None)],
    ids=["alice", "scheme case-insensitive", "wrong key", "wrong scheme", "missing"],
)
def test_keyring(header: str | None, tenant: str | None) -> None:
    ring = KeyRing.from_keys({"k1": "alice", "k2": "bob"})
    if tenant is None:
        with pytest.raises(Exception, match="API key"):
            ring.authenticate(header)
    else:
        assert ring.authenticate(header) == tenant
    assert KeyRing.from_keys({}).authenticate(header) == OPEN_TENANT


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/rewards"), ("GET", "/v1/runs"), ("GET", "/v1/profiles"), ("POST", "/v1/score")],
    ids=["rewards", "runs", "profiles", "score"],
)
def test_keys_required(keyed: TestClient, method: str, path: str) -> None:
    resp = keyed.request(method, path, json={"profile": "grounding-medloc", "items": []})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    assert resp.headers["www-authenticate"] == "Bearer"
    bad = keyed.request(method, path, headers={"Authorization": "Bearer guess"}, json={})
    assert bad.status_code == 401


def test_operations_routes_are_open(keyed: TestClient) -> None:
    assert keyed.get("/healthz").status_code == 200
    assert keyed.get("/metrics").status_code == 200


def test_tenant_isolation(keyed: TestClient) -> None:
    assert keyed.post("/v1/runs", json={"run_id": "shared-name"}, headers=ALICE).status_code == 201
    assert keyed.get("/v1/runs/shared-name", headers=BOB).status_code == 404
    assert keyed.delete("/v1/runs/shared-name", headers=BOB).status_code == 404
    # Bob may use the same id for his own run (created on first use); Alice's is untouched.
    body = {"items": [BOX], "run_id": "shared-name"}
    assert keyed.post("/v1/rewards/iou", json=body, headers=BOB).status_code == 200
    assert keyed.post("/v1/runs", json={"run_id": "shared-name"}, headers=BOB).status_code == 409
    assert keyed.get("/v1/runs/shared-name", headers=ALICE).json()["groups"] == 0
    assert keyed.get("/v1/runs/shared-name", headers=BOB).json()["groups"] == 1
    private = {"components": [{"reward": "format", "required": True}]}
    keyed.put("/v1/profiles/private", json=private, headers=ALICE)
    assert keyed.get("/v1/profiles/private", headers=BOB).status_code == 404
    assert keyed.get("/v1/profiles/private", headers=ALICE).status_code == 200


def test_adapter_accepts_query_key_and_never_logs_it(keyed: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"query": [], "prompts": [], "labels": []}
    assert keyed.post("/openrlhf/grounding-medloc", json=body).status_code == 401
    ok = keyed.post("/openrlhf/grounding-medloc?api_key=key-alice-0123456789", json=body)
    assert ok.status_code == 200
    keyed.get("/v1/runs", headers=ALICE)
    # The server's own log lines (the test client's httpx logs its URLs, query included).
    server = "\n".join(
        r.getMessage() + str(r.__dict__) for r in caplog.records if r.name.startswith(("app", "uvicorn"))
    )
    assert "key-alice" not in server
    assert "/openrlhf/grounding-medloc" in server  # the access log has the path, not the query


METADATA_URL = "http://169.254.169.254/latest"  # what an SSRF would aim at


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/v1/rewards/semantic",
            {
                "items": [{"completion": "a", "reference": "b"}],
                "params": {"backend": "judge", "judge_url": METADATA_URL},
            },
            "params.judge_url",
        ),
        (
            "PUT",
            "/v1/profiles/judged",
            {"components": [{"reward": "semantic", "params": {"backend": "judge", "judge_url": METADATA_URL}}]},
            "body.components[0].params.judge_url",
        ),
        (
            "POST",
            "/v1/score",
            {"profile": {"components": [{"reward": "semantic", "params": {"judge_url": METADATA_URL}}]}, "items": []},
            "profile.components[0].params.judge_url",
        ),
    ],
    ids=["reward params", "saved profile", "inline profile"],
)
def test_requests_cannot_choose_the_judge_url(
    client: TestClient, method: str, path: str, body: dict[str, object], field: str
) -> None:
    resp = client.request(method, path, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == {
        "code": "judge_url_not_allowed",
        "message": resp.json()["error"]["message"],
        "field": field,
    }


def test_operator_allowed_judge_url_is_accepted() -> None:
    from tests.app.conftest import make_client

    judge = "http://judge.internal:8001/v1"
    with make_client(allowed_judge_urls=judge) as c:
        params = {"backend": "lexical", "judge_url": judge + "/"}
        resp = c.post(
            "/v1/rewards/semantic",
            json={"items": [{"completion": "<answer>a</answer>", "reference": "a"}], "params": params},
        )
        assert resp.status_code == 200, resp.text

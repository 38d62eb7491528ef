"""OpenAPI: every operation documents an example (parameters, request body or response)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import make_client


def _spec() -> dict[str, Any]:
    with make_client() as c:
        return dict(c.get("/openapi.json").json())


SPEC = _spec()
OPERATIONS = [(path, method) for path, ops in SPEC["paths"].items() for method in ops]


def _has_example(obj: Any, seen: set[str] | None = None) -> bool:
    text = json.dumps(obj)
    if '"example"' in text or '"examples"' in text:
        return True
    seen = seen or set()
    for ref in re.findall(r"#/components/schemas/([A-Za-z0-9_.\-]+)", text):
        if ref not in seen:
            seen.add(ref)
            if _has_example(SPEC["components"]["schemas"][ref], seen):
                return True
    return False


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_every_route_has_an_example(path: str, method: str) -> None:
    op = SPEC["paths"][path][method]
    assert op.get("summary") and op.get("description"), "a route docstring"
    assert (
        _has_example(op.get("parameters", []))
        or _has_example(op.get("requestBody", {}))
        or _has_example(op.get("responses", {}).get("200", op.get("responses", {}).get("201", {})))
    )


def test_routes_of_the_contract_are_all_there(client: TestClient) -> None:
    expected = {
        ("/v1/rewards", "get"), ("/v1/rewards/{name}", "post"), ("/v1/score", "post"),
        ("/v1/profiles/{name}", "get"), ("/v1/profiles/{name}", "put"), ("/v1/profiles/{name}", "delete"),
        ("/v1/runs", "post"), ("/v1/runs", "get"), ("/v1/runs/{run_id}", "get"), ("/v1/runs/{run_id}/history", "get"),
        ("/v1/runs/{run_id}/reset", "post"), ("/v1/runs/{run_id}", "delete"),
        ("/openrlhf/{profile}", "post"), ("/slime/{profile}", "post"), ("/verify/{profile}", "post"),
        ("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get"),
    }  # fmt: skip
    assert expected <= set(OPERATIONS)


@pytest.mark.parametrize(
    ("path", "schema"), [("/v1/rewards/{name}", "RewardResponse"), ("/v1/score", "ScoreResponse")]
)
def test_scoring_routes_document_both_encodings(path: str, schema: str) -> None:
    content = SPEC["paths"][path]["post"]["responses"]["200"]["content"]
    ref = {"$ref": f"#/components/schemas/{schema}"}
    assert content == {"application/json": {"schema": ref}, "application/msgpack": {"schema": ref}}
    assert schema in SPEC["components"]["schemas"]

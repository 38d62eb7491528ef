"""Schemathesis against the live server's /openapi.json: no 5xx across 1000+ generated requests.

Valid (positive) and schema-violating (negative) requests are generated for every operation;
every 4xx must come back in the one error shape. Driven through schemathesis' Python API
(``as_strategy`` + Hypothesis), one generated test per operation and mode.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.e2e.conftest import ALICE, Server

EXAMPLES_PER_OPERATION = 40  # × 2 modes × 20+ operations > 1000 requests
MIN_REQUESTS = 1000


def fuzz(operation: Any, mode: GenerationMode, sent: dict[str, int], failures: list[str]) -> None:
    """Send up to EXAMPLES_PER_OPERATION generated requests for one operation and mode."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call(headers=ALICE, timeout=60)
        key = f"{case.method} {case.path}"
        sent[key] = sent.get(key, 0) + 1
        if response.status_code >= 500:
            failures.append(f"{key} {mode} -> {response.status_code}: {response.text[:300]}")
        elif response.status_code >= 400:
            error = response.json()["error"]
            assert isinstance(error["code"], str) and error["message"], response.text

    try:
        check()
    except Exception as exc:  # hypothesis' Unsatisfiable: no negative case exists for this operation
        if "unsatisfiable" not in f"{type(exc).__name__} {exc}".lower():
            raise


@pytest.mark.slow
def test_no_server_errors_on_generated_requests(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    sent: dict[str, int] = {}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, sent, failures)
    assert not failures, "\n".join(failures[:20])
    total = sum(sent.values())
    assert total >= MIN_REQUESTS, f"only {total} requests: {sent}"
    print(f"\nschemathesis: {total} requests over {len(sent)} operations, no 5xx")

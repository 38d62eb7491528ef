"""In-process app fixtures: the real app over a memory store, with and without API keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

KEYS = "key-alice-0123456789:alice,key-bob-9876543210:bob"
ALICE = {"Authorization": "Bearer key-alice-0123456789"}
BOB = {"Authorization": "Bearer key-bob-9876543210"}


def make_client(**overrides: object) -> TestClient:
    fields: dict[str, object] = {"store_url": "memory://", "load_models": False, **overrides}
    settings = Settings(**fields)  # type: ignore[arg-type]
    return TestClient(create_app(settings))


@pytest.fixture
def client() -> Iterator[TestClient]:
    """Open mode (no keys): every caller is tenant 'default'."""
    with make_client() as c:
        yield c


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    """Two tenants, alice and bob."""
    with make_client(api_keys=KEYS) as c:
        yield c

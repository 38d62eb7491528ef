"""The ``>>>`` examples in the service's modules run (pytest collects doctests from tests/ and scorers/ only)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "app.api.media",
    "app.auth",
    "app.cli",
    "app.adapters.common",
    "app.adapters.openrlhf",
    "app.adapters.nemo_gym",
]


@pytest.mark.parametrize("name", MODULES, ids=MODULES)
def test_module_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0

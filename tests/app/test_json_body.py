"""`json_depth` measures nesting as a JSON parser sees it: brackets inside strings do not count."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.json_body import BodyRejected, clean_json_body, json_depth


def true_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((true_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((true_depth(v) for v in value.values()), default=0)
    return 0


# Strings full of what could fool a scanner: brackets, quotes, backslashes, escapes.
tricky = st.text(alphabet='[]{}"\\/\nab\u00e9\U0001f600', max_size=8)
documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(documents, st.booleans(), st.sampled_from([None, 1]))
def test_the_depth_a_parser_sees(doc: Any, ascii_only: bool, indent: int | None) -> None:
    body = json.dumps(doc, ensure_ascii=ascii_only, indent=indent).encode()
    assert json_depth(body) == true_depth(doc)


@pytest.mark.parametrize("depth", [1, 63, 64, 65, 300])
def test_a_large_body_is_measured_too(depth: int) -> None:
    """Bodies over the size that is counted first are always measured, never waved through."""
    filler = {"items": [{"completion": "[[[[ x ]]]] " * 40}] * 20}
    body = json.dumps([filler, json.loads("[" * depth + "]" * depth)]).encode()
    assert len(body) > 4096
    if depth + 1 > 64:
        with pytest.raises(BodyRejected):
            clean_json_body(body, 64)
    else:
        assert clean_json_body(body, 64) == body

"""The contract every registered reward must meet (HF evaluate's test_metric_common, for rewards).

A new reward cannot land without passing this: output length = input length, values in the
declared range or None, deterministic, garbage and empty input never raise, and the module's
docstring examples run as doctests.
"""

from __future__ import annotations

import doctest
import importlib
import math
from typing import Any

import pytest

from scorers import REGISTRY, Item, Score, score

GARBAGE_COMPLETIONS = [
    "",
    " ",
    "\x00\x01\x02",
    "<answer></answer>",
    "<answer>",
    "</answer><answer>",
    "<think><think><answer>[1,2,3,4]</answer></think>",
    "[" * 200 + "]" * 200,
    "<answer>" * 300,
    "NaN inf -inf [nan, inf, 1, 2]",
    "🙂 ünïcödé " * 20,
    "x" * 20_000,
    '{"bbox_2d": [1e308, -1e308, 1e308, "a"]}',
    "<|box_start|>(1,2),(3<|box_end|>",
]

GARBAGE_FIELDS: list[dict[str, Any]] = [
    {},
    {"reference": ""},
    {"reference": []},
    {"reference": ["", "   "]},
    {"reference": "yes", "kind": "closed"},
    {"reference": "Z", "kind": "mcq", "options": {}},
    {"reference": "severe", "kind": "ordinal", "grades": []},
    {"reference": "12 parsecs", "kind": "numeric"},
    {"boxes": [[0, 0, 0, 0]], "image_size": (0, 0)},
    {"boxes": [[5, 5, 1, 1]], "image_size": (10, 10), "input_size": (0, 10)},
    {"knowledge": "", "num_tokens": 0},
    {"group": 7},
]


def _items(spec_examples: tuple[Any, ...]) -> list[Item]:
    items = [Item.model_validate(e) for e in spec_examples]
    for fields in GARBAGE_FIELDS:
        for completion in GARBAGE_COMPLETIONS:
            items.append(Item(completion=completion, **fields))
    return items


def _same(a: Score, b: Score) -> bool:
    if a.status != b.status:
        return False
    if a.reward is None or b.reward is None:
        return a.reward is b.reward
    return a.reward == b.reward


@pytest.fixture(params=sorted(REGISTRY), ids=str)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_registry_is_not_empty() -> None:
    assert {"format"} <= set(REGISTRY)


def test_spec_is_described(name: str) -> None:
    spec = REGISTRY[name]
    lo, hi = spec.range
    assert lo < hi, "range must be a non-empty interval"
    assert spec.description.strip(), "every reward says what it scores"
    assert spec.examples, "every reward gives examples for this contract test"
    spec.params.model_json_schema()  # serialisable for GET /v1/rewards


def test_length_range_and_determinism(name: str) -> None:
    spec = REGISTRY[name]
    items = _items(spec.examples)
    first = score(name, items)
    second = score(name, items)
    assert len(first) == len(items)
    lo, hi = spec.range
    for item, s in zip(items, first, strict=True):
        assert s.status in ("ok", "unscorable", "error")
        if s.reward is None:
            assert s.status != "ok", f"an abstention must say why: {item.completion[:40]!r}"
            assert s.details.get("reason"), "an abstention carries a reason"
        else:
            assert math.isfinite(s.reward), f"non-finite reward for {item.completion[:40]!r}"
            assert lo - 1e-9 <= s.reward <= hi + 1e-9, f"{s.reward} outside {spec.range}"
    assert all(_same(a, b) for a, b in zip(first, second, strict=True)), "same input, same output"
    assert not any(s.status == "error" for s in first), "garbage is unscorable, not a scorer error"


def test_examples_score_ok(name: str) -> None:
    spec = REGISTRY[name]
    out = score(name, list(spec.examples))
    assert any(s.status == "ok" for s in out), "at least one example is scorable"


def test_empty_batch(name: str) -> None:
    assert score(name, []) == []


def test_batch_equals_singles(name: str) -> None:
    """Batching is an optimisation, never a change of result."""
    spec = REGISTRY[name]
    items = _items(spec.examples)[:40]
    batch = score(name, items)
    singles = [score(name, [it])[0] for it in items]
    assert all(_same(a, b) for a, b in zip(batch, singles, strict=True))


def test_doctests(name: str) -> None:
    module = importlib.import_module(REGISTRY[name].fn.__module__)
    result = doctest.testmod(module, raise_on_error=False, verbose=False)
    assert result.attempted >= 1, f"{module.__name__} has no docstring example"
    assert result.failed == 0

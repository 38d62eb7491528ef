"""`scorers.score` and the registry: the one-item shortcut a reward may register, and how items
are taken in."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from scorers import REGISTRY, Item, Params, Score, register, score
from scorers.box_batch import score_one_box_item
from scorers.registry import as_items


class _Calls:
    def __init__(self) -> None:
        self.one: list[str] = []
        self.batch: list[list[str]] = []


@pytest.fixture
def shortcut() -> Iterator[_Calls]:
    """A reward whose shortcut takes completions starting with "one", declines "batch" and raises on
    "boom"; its batch function scores everything 0.5 and records what it saw."""
    calls = _Calls()

    def one(it: Item, params: Params) -> Score | None:
        calls.one.append(it.completion)
        if it.completion == "boom":
            raise RuntimeError("shortcut bug")
        return Score.ok(1.0, path="one") if it.completion.startswith("one") else None

    @register("test-one", params=Params, range=(0.0, 1.0), description="records its path", one=one)
    def _fn(items: Sequence[Item], params: Params) -> list[Score]:
        calls.batch.append([it.completion for it in items])
        return [Score.ok(0.5, path="batch") for _ in items]

    try:
        yield calls
    finally:
        del REGISTRY["test-one"]


def test_one_item_takes_the_shortcut(shortcut: _Calls) -> None:
    (s,) = score("test-one", [Item(completion="one a")])
    assert (s.reward, s.details) == (1.0, {"path": "one"})
    assert shortcut.batch == []


def test_a_dict_is_validated_then_takes_the_shortcut(shortcut: _Calls) -> None:
    (s,) = score("test-one", [{"completion": "one b"}])
    assert s.details == {"path": "one"} and shortcut.one == ["one b"]


def test_declined_item_goes_to_the_batch_function(shortcut: _Calls) -> None:
    (s,) = score("test-one", [Item(completion="batch")])
    assert s.details == {"path": "batch"}
    assert shortcut.one == ["batch"] and shortcut.batch == [["batch"]]


def test_a_failing_shortcut_falls_back_and_is_logged(shortcut: _Calls, caplog: pytest.LogCaptureFixture) -> None:
    (s,) = score("test-one", [Item(completion="boom")])
    assert (s.status, s.details) == ("ok", {"path": "batch"})
    assert "one-item shortcut failed" in caplog.text


def test_batches_never_take_the_shortcut(shortcut: _Calls) -> None:
    out = score("test-one", [Item(completion="one c"), Item(completion="one d")])
    assert [s.details["path"] for s in out] == ["batch", "batch"]
    assert shortcut.one == []


def test_iou_registers_its_shortcut() -> None:
    """`iou`'s one-box path is its shortcut; tests/scorers/test_iou.py checks it against numpy."""
    assert REGISTRY["iou"].one is score_one_box_item


def test_as_items_passes_a_list_of_items_through_and_validates_dicts() -> None:
    items = [Item(completion="a"), Item(completion="b")]
    assert as_items(items) is items
    mixed = as_items([items[0], {"completion": "c"}])
    assert [it.completion for it in mixed] == ["a", "c"] and all(isinstance(it, Item) for it in mixed)
    with pytest.raises(ValueError, match="completion"):
        as_items([{"reference": "no completion"}])

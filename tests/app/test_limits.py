"""`check_items`' batch-wide shortcuts never let an item over a limit through.

`plainly_within` reads fields across the batch; records decoded into `checked_record`'s type
were checked by msgspec as they were decoded.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.api.errors import ApiError
from app.lean_requests import plain_reward_request
from app.limits import (
    MAX_GROUP_CHARS,
    ItemLimits,
    check_each,
    check_items,
    checked_record,
    one_box_record,
    one_box_records,
    plainly_within,
)
from app.settings import Settings
from scorers import Item

# Small limits so that generated items reach them often.
LIMITS = Settings(
    max_completion_chars=8,
    max_boxes=2,
    max_references=2,
    max_reference_chars=6,
    max_polygon_vertices=5,
    max_num_tokens=50,
    load_models=False,
)

text = st.text(alphabet="ab\u00e9\U0001f600", max_size=10)
box = st.lists(st.floats(0, 100), min_size=4, max_size=4)
polygon = st.lists(st.lists(st.floats(0, 9), min_size=2, max_size=2), max_size=4)
item_fields: dict[str, Any] = {
    "completion": text,
    "boxes": st.none() | st.lists(box, max_size=3),
    "polygons": st.none() | st.lists(polygon, max_size=3),
    "reference": st.none() | text | st.lists(text, max_size=3),
    "options": st.none() | st.dictionaries(st.sampled_from("ABC"), text, max_size=3),
    "grades": st.none() | st.lists(text, max_size=3),
    "knowledge": st.none() | text,
    "num_tokens": st.none() | st.integers(0, 100),
    "group": st.none() | st.integers() | st.text(max_size=MAX_GROUP_CHARS + 2).filter(lambda g: len(g) != 1) | text,
}


@st.composite
def items(draw: st.DrawFn) -> list[Item]:
    n = draw(st.integers(0, 6))
    out = []
    for _ in range(n):
        # Most items plain (completion and boxes), as in the batches the shortcut is for.
        chosen = ["completion", "boxes"] + draw(st.lists(st.sampled_from(sorted(item_fields)), max_size=3))
        out.append(Item(**{name: draw(item_fields[name]) for name in chosen}))
    return out


def _loop_verdict(batch: list[Item], limits: Settings = LIMITS) -> tuple[int, str, str, str | None] | None:
    try:
        check_each(batch, limits)
    except ApiError as exc:
        return exc.status, exc.code, str(exc), exc.field
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
def test_the_shortcut_passes_only_batches_the_loop_passes(batch: list[Item]) -> None:
    if plainly_within(batch, LIMITS):
        assert _loop_verdict(batch) is None
    # And check_items, shortcut or not, answers what the loop answers.
    try:
        check_items(batch, LIMITS)
        got = None
    except ApiError as exc:
        got = (exc.status, exc.code, str(exc), exc.field)
    assert got == _loop_verdict(batch)


PLAIN = {"completion": "[1,2,3]", "boxes": [[1, 2, 3, 4]]}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, True),
        ({"group": "p-1"}, True),
        ({"group": 7}, True),
        ({"reference": "yes", "num_tokens": 40}, True),
        ({"completion": "x" * 9}, False),
        ({"boxes": [[1, 2, 3, 4]] * 3}, False),
        ({"group": "g" * (MAX_GROUP_CHARS + 1)}, False),
        ({"reference": "x" * 7}, False),
        ({"reference": ["a"]}, False),
        ({"num_tokens": 51}, False),
        ({"options": {"A": "x"}}, False),
        ({"knowledge": "k"}, False),
    ],
)
def test_the_shortcut_sends_anything_near_a_limit_to_the_loop(extra: dict[str, Any], expected: bool) -> None:
    batch = [Item(**PLAIN), Item(**(PLAIN | {"completion": "short"} | extra))]
    assert plainly_within(batch, LIMITS) is expected


def test_mixed_group_kinds_go_to_the_loop() -> None:
    batch = [Item(completion="a", group=1), Item(completion="b", group="g")]
    assert not plainly_within(batch, LIMITS)
    check_items(batch, LIMITS)  # and pass it


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
@example([Item(completion="", polygons=[])])  # no outline: nothing to count (found by hypothesis)
def test_records_decoded_against_the_limits_are_exactly_the_batches_within_them(batch: list[Item]) -> None:
    body = json.dumps({"items": [item.model_dump(exclude_none=True) for item in batch]}).encode()
    request = plain_reward_request(body, LIMITS)
    within = _loop_verdict(batch) is None
    # Over a limit: refused (the model's path gives the 413); within: decoded, lean. Polygons'
    # vertices are the one limit msgspec does not count: over it alone, a batch is decoded, and checked.
    any_vertices = LIMITS.model_copy(update={"max_polygon_vertices": 10**9})
    assert (request is not None) == (_loop_verdict(batch, any_vertices) is None)
    if request is None:
        return
    # The narrower type when every item has at most one box and no polygons (not even []).
    one_box = all(len(r.boxes or ()) <= 1 and r.polygons is None for r in request.items)
    record = (one_box_record if one_box else checked_record)(ItemLimits.of(LIMITS))
    assert all(type(r) is record for r in request.items)
    assert plainly_within(request.items, LIMITS) == all(not r.polygons for r in request.items)  # [] has no vertices
    if within:
        check_items(request.items, LIMITS)
    else:
        with pytest.raises(ApiError, match="polygon vertices"):
            check_items(request.items, LIMITS)


@pytest.mark.parametrize(
    ("last", "one_box"),
    [
        ({"boxes": [[1, 2, 3, 4]]}, True),
        ({"boxes": []}, True),
        ({}, True),
        ({"boxes": [[1, 2, 3, 4], [5, 6, 7, 8]]}, False),
        ({"polygons": []}, False),
        ({"polygons": [[[0, 0], [1, 0], [1, 1]]]}, False),
    ],
)
def test_the_one_box_type_says_the_batch_shape_and_changes_no_value(last: dict[str, Any], one_box: bool) -> None:
    batch = [{"completion": "a", "boxes": [[1, 2, 3, 4]]}] * 5 + [{"completion": "b", **last}]
    request = plain_reward_request(json.dumps({"items": batch}).encode(), LIMITS)
    assert request is not None, "within every limit: decoded either way"
    assert one_box_records(request.items, LIMITS) is one_box
    general = msgspec.json.decode(json.dumps(batch).encode(), type=list[checked_record(ItemLimits.of(LIMITS))])
    assert [msgspec.structs.asdict(r) for r in request.items] == [msgspec.structs.asdict(r) for r in general]
    # Within the limits either way; polygons alone still have their vertices counted.
    assert plainly_within(request.items, LIMITS) is (one_box or "polygons" not in last or not last["polygons"])


def test_a_body_the_one_box_type_refuses_elsewhere_is_not_decoded_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a refusal at a box or polygon sends the body to the general decoder: anything else
    it would refuse too (here an unknown field, as every body into a run has)."""
    from app import lean_requests

    calls: list[str] = []
    real = lean_requests.lean_decoders(ItemLimits.of(LIMITS), LIMITS.max_items)

    class Counting:
        def __init__(self, name: str, decoder: Any) -> None:
            self.name, self.decoder = name, decoder

        def decode(self, body: bytes) -> Any:
            calls.append(self.name)
            return self.decoder.decode(body)

    counting = lean_requests.LeanDecoders(
        (Counting("one box", real.reward[0]), Counting("general", real.reward[1])), real.score
    )
    monkeypatch.setattr(lean_requests, "_for", lambda settings: counting)
    items = [{"completion": "a", "boxes": [[1, 2, 3, 4]]}]
    assert plain_reward_request(json.dumps({"items": items, "run_id": "r"}).encode(), LIMITS) is None
    assert calls == ["one box"]
    calls.clear()
    two = [{"completion": "a", "boxes": [[1, 2, 3, 4]] * 2}]
    assert plain_reward_request(json.dumps({"items": two}).encode(), LIMITS) is not None
    assert calls == ["one box", "general"]


def test_a_batch_over_max_items_is_not_decoded_as_checked() -> None:
    few = LIMITS.model_copy(update={"max_items": 3})
    body = {"items": [{"completion": "x"}] * 3}
    assert plain_reward_request(json.dumps(body).encode(), few) is not None
    assert plain_reward_request(json.dumps({"items": body["items"] * 2}).encode(), few) is None


@pytest.mark.parametrize(
    "extra",
    [
        {"completion": "x" * 9},
        {"completion": "\U0001f600" * 9},
        {"boxes": [[1, 2, 3, 4]] * 3},
        {"polygons": [[[0, 0], [1, 0], [1, 1]]] * 3},
        {"group": "g" * (MAX_GROUP_CHARS + 1)},
        {"reference": "x" * 7},
        {"reference": ["a", "b", "c"]},
        {"reference": ["a", "x" * 7]},
        {"options": {"A": "x", "B": "y", "C": "z"}},
        {"options": {"A": "x" * 7}},
        {"options": {"A" * 7: "x"}},
        {"grades": ["a", "b", "c"]},
        {"knowledge": "k" * 7},
        {"num_tokens": 51},
    ],
)
def test_a_field_one_past_its_limit_is_not_decoded_as_checked(extra: dict[str, Any]) -> None:
    at_limit = {
        "completion": "x" * 8,
        "boxes": [[1, 2, 3, 4]] * 2,
        "group": "g" * MAX_GROUP_CHARS,
        "reference": ["a", "x" * 6],
        "options": {"A": "x" * 6, "B" * 6: "y"},
        "knowledge": "k" * 6,
        "num_tokens": 50,
    }
    checked = checked_record(ItemLimits.of(LIMITS))
    assert msgspec.json.decode(json.dumps(at_limit).encode(), type=checked)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(json.dumps(at_limit | extra).encode(), type=checked)
    item = Item(**(at_limit | extra))
    with pytest.raises(ApiError):
        check_each([item], LIMITS)

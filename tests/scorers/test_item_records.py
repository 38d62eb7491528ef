"""`ItemRecord` is an accelerator for `Item`, never a second validator.

What msgspec accepts, the `Item` model accepts with the same values (else the caller would score
data the API refuses, or score it differently); what the model refuses, msgspec refuses (the
caller then gets the model's error). And every registered reward scores a record as the Item.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, get_args, get_origin

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.lean_requests import plain_reward_request, plain_score_request
from app.schemas import RewardRequest, ScoreRequest
from app.settings import Settings
from scorers import REGISTRY, Item, score
from scorers.item_records import ItemRecord, records_from_python, with_fields
from scorers.registry import as_items
from tests.scorers.test_contract import GARBAGE_COMPLETIONS, GARBAGE_FIELDS

SETTINGS = Settings(store_url="memory://", load_models=False)


def _plain(annotation: Any) -> str:
    """A field's type with Annotated metadata dropped, as text."""
    if get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        annotation = get_args(annotation)[0]
    return str(annotation).replace("typing.", "")


def test_the_record_has_the_items_fields_types_and_defaults() -> None:
    record_fields = {f.name: f for f in msgspec.structs.fields(ItemRecord)}
    assert list(record_fields) == list(Item.model_fields)
    for name, info in Item.model_fields.items():
        rf = record_fields[name]
        assert info.is_required() == (rf.default is msgspec.NODEFAULT), name
        if not info.is_required():
            assert rf.default == info.default, name
        if name != "num_tokens":  # Annotated[int, Meta(ge=0)] | None here, Field(ge=0) there
            assert _plain(rf.type) == _plain(info.annotation), name
    # num_tokens carries its bound on both sides.
    assert msgspec.convert({"completion": "x", "num_tokens": 0}, ItemRecord).num_tokens == 0
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"completion": "x", "num_tokens": -1}, ItemRecord)


def _values(item: Any) -> str:
    """Every field's value, NaN and -0.0 told apart, tuples and lists not."""
    return repr({name: getattr(item, name) for name in Item.model_fields})


_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
_value = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)
_numbers = st.integers(min_value=-(2**65), max_value=2**65) | st.floats(allow_nan=True, allow_infinity=True)
_box = st.lists(_numbers, min_size=3, max_size=5)
# Fields with values near their types (so that many are accepted) and anything at all.
_fields = st.fixed_dictionaries(
    {},
    optional={
        "completion": st.text(max_size=20) | _value,
        "reference": st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=3) | _value,
        "kind": st.sampled_from(["closed", "mcq", None]) | _value,
        "options": st.dictionaries(st.sampled_from("ABC"), st.text(max_size=4), max_size=3) | _value,
        "grades": st.lists(st.text(max_size=4), max_size=3) | _value,
        "boxes": st.lists(_box, max_size=3) | _value,
        "polygons": st.lists(st.lists(st.lists(_numbers, min_size=2, max_size=2), max_size=4), max_size=2) | _value,
        "image_size": st.tuples(_numbers, _numbers) | st.lists(_numbers, max_size=3) | _value,
        "input_size": st.tuples(st.integers(0, 2000), st.integers(0, 2000)) | _value,
        "knowledge": st.text(max_size=5) | _value,
        "num_tokens": st.integers(min_value=-3, max_value=2**66) | _value,
        "group": st.text(max_size=4) | st.integers() | _value,
        "extra": _value,
    },
)


def _both_accept(plain: Any, validate: Callable[[], Any], given: object) -> tuple[Any, Any] | None:
    """(msgspec's, the model's) when both accept; checks that msgspec refused what the model refuses."""
    try:
        model = validate()
    except ValidationError:
        assert plain is None, f"msgspec accepted what the model refuses: {given!r}"
        return None
    return None if plain is None else (plain, model)


@settings(max_examples=600, deadline=None)
@given(_fields)
def test_from_python_what_msgspec_accepts_the_model_accepts_alike(fields: dict[str, Any]) -> None:
    both = _both_accept(records_from_python([fields]), lambda: Item.model_validate(fields), fields)
    if both:
        records, model = both
        assert _values(records[0]) == _values(model)


@settings(max_examples=600, deadline=None)
@given(_fields)
def test_from_json_what_msgspec_accepts_the_model_accepts_alike(fields: dict[str, Any]) -> None:
    body = json.dumps({"items": [fields], "params": {}}, allow_nan=True).encode()
    both = _both_accept(plain_reward_request(body, SETTINGS), lambda: RewardRequest.model_validate_json(body), body)
    if both:
        plain, model = both
        assert _values(plain.items[0]) == _values(model.items[0])
        assert plain.params == model.params


@settings(max_examples=300, deadline=None)
@given(_fields, st.sampled_from(["vqa-closed", "grounding-medloc"]) | _value)
def test_score_requests_too(fields: dict[str, Any], profile: Any) -> None:
    body = json.dumps({"profile": profile, "items": [fields]}, allow_nan=True).encode()
    both = _both_accept(plain_score_request(body, SETTINGS), lambda: ScoreRequest.model_validate_json(body), body)
    if both:
        plain, model = both
        assert plain.profile == model.profile
        assert _values(plain.items[0]) == _values(model.items[0])


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": [{"completion": "a"}], "run_id": "r"}',  # a run: always the model
        b'{"items": [{"completion": "a", "boxes": [[NaN, 0, 1, 1]]}]}',
        b'{"items": [{"completion": "a", "boxes": [[1e400, 0, 1, 1]]}]}',
        b'{"items": [{"completion": "a", "num_tokens": 5.0}]}',
        b'{"items": [{"completion": "a", "group": true}]}',
        b'{"items": [{"completion": "a", "image_size": [1, 2.0]}]}',
        b'{"items": {"completion": "a"}}',
        b'{"items": [{"completion": "a"}], "params": []}',
        b"not json",
        b'{"items": [{"completion": "a\xff\xfeb"}]}',  # not UTF-8
        b'{"items": [{"completion": "a\x00b"}]}',  # a raw control character
        b'\xef\xbb\xbf{"items": []}',  # a byte-order mark
    ],
)
def test_bodies_left_to_the_model(body: bytes) -> None:
    assert plain_reward_request(body, SETTINGS) is None


def test_a_plain_body_keeps_the_models_defaults() -> None:
    request = plain_reward_request(
        b'{"items": [{"completion": "a", "boxes": [[1, 2, 3, 4]]}], "params": {"x": 1}}', SETTINGS
    )
    assert request is not None
    assert request.run_id is None and request.group_size is None and request.step is None
    assert request.params == {"x": 1}
    assert request.items[0].boxes == [[1.0, 2.0, 3.0, 4.0]]
    assert type(request.items[0].boxes[0][0]) is float


def test_as_items_takes_records_and_mixed_input() -> None:
    record = msgspec.convert({"completion": "x"}, ItemRecord)
    item = Item(completion="y")
    assert as_items([record, item]) == [record, item]
    mixed = as_items([record, {"completion": "z"}])
    assert [it.completion for it in mixed] == ["x", "z"]
    with pytest.raises(ValidationError):
        as_items([{"completion": "a", "bogus": 1}])


class _NarrowerRecord(ItemRecord, frozen=True):
    """As the service's records checked against its limits (`app.limits.checked_record`)."""


def test_a_batch_of_record_subclasses_is_taken_as_it_is() -> None:
    # Not item by item in Python: that cost ~0.2 µs an item of a box batch, 5% of scoring it.
    batch = [msgspec.convert({"completion": "x"}, _NarrowerRecord), Item(completion="y")]
    assert as_items(batch) is batch


def test_with_fields_replaces_on_either_type() -> None:
    record = msgspec.convert({"completion": "x"}, ItemRecord)
    assert with_fields(record, kind="closed").kind == "closed"  # type: ignore[arg-type]
    assert with_fields(Item(completion="x"), kind="mcq").kind == "mcq"


def _same_scores(a: list[Any], b: list[Any]) -> None:
    assert [(s.status, repr(s.reward), repr(s.details)) for s in a] == [
        (s.status, repr(s.reward), repr(s.details)) for s in b
    ]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_reward_scores_a_record_as_the_item(name: str) -> None:
    spec = REGISTRY[name]
    dicts = [dict(e) for e in spec.examples]
    dicts += [{"completion": c, **f} for f in GARBAGE_FIELDS for c in GARBAGE_COMPLETIONS]
    items = [Item.model_validate(d) for d in dicts]
    records = [msgspec.convert(d, ItemRecord) for d in dicts]
    if spec.defaults is None:
        pytest.skip(f"{name} needs params")  # pragma: no cover
    _same_scores(score(name, records), score(name, items))
    for record, item in zip(records[:8], items[:8], strict=True):  # the one-item path too
        _same_scores(score(name, [record]), score(name, [item]))
    assert not any(math.isnan(s.reward) for s in score(name, records) if s.reward is not None)

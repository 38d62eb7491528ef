"""Request limits (settings): items, characters, references, boxes, polygon vertices, token counts.

Body bytes and JSON nesting are limited earlier, by `app.middleware` (and `app.fastpath`). Every
limit here answers 413 (or 422 for a value out of range) naming the first field over it, so a
request that would cost other tenants seconds of CPU is refused before any scoring starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import Annotated, Any, cast

import msgspec
from pydantic import BaseModel

from app.api.errors import ApiError
from app.settings import Settings
from scorers import Item
from scorers.item_records import ItemRecord

# A weight below this is 0 in all but name: w·r underflows for subnormal w (5e-324 · 0.3 == 0),
# which silently bent totals; weights are 0 (left out) or in [MIN_WEIGHT, 1e6].
MIN_WEIGHT = 1e-6
# Group ids are kept in run records (raises, idempotency records, open groups): ids, not texts.
MAX_GROUP_CHARS = 256


def check_items(items: Sequence[Item], settings: Settings, field: str = "items") -> None:
    """413 naming the first item over a limit (422 for a num_tokens out of range)."""
    if len(items) > settings.max_items:
        raise ApiError(413, "too_many_items", f"{len(items)} items; at most {settings.max_items} per request", field)
    if not plainly_within(items, settings):
        check_each(items, settings, field)


def check_each(items: Sequence[Item], settings: Settings, field: str = "items") -> None:
    """`check_items`' limits item by item: the 413 (or 422) names the first field over one."""
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        check_text(item.completion, settings, f"{where}.completion")
        for name in ("boxes", "polygons"):
            value = getattr(item, name)
            if value is not None and len(value) > settings.max_boxes:
                raise ApiError(
                    413,
                    "too_many_boxes",
                    f"{len(value)} {name}; at most {settings.max_boxes} per item",
                    f"{where}.{name}",
                )
        if item.polygons is not None:
            vertices = sum(len(p) for p in item.polygons)
            if vertices > settings.max_polygon_vertices:
                raise ApiError(
                    413,
                    "too_many_vertices",
                    f"{vertices} polygon vertices; at most {settings.max_polygon_vertices} per item "
                    "(MEDREWARD_MAX_POLYGON_VERTICES): simplify the polygons",
                    f"{where}.polygons",
                )
        if isinstance(item.group, str) and len(item.group) > MAX_GROUP_CHARS:
            raise ApiError(
                413,
                "group_too_long",
                f"group id of {len(item.group)} characters; at most {MAX_GROUP_CHARS} (an id, e.g. a prompt hash)",
                f"{where}.group",
            )
        _check_reference_texts(item, settings, where)
        if item.num_tokens is not None and item.num_tokens > settings.max_num_tokens:
            n = item.num_tokens
            shown = str(n) if n < 10**18 else f"of {len(str(n))} digits"
            raise ApiError(
                422,
                "invalid_field",
                f"num_tokens {shown} is not a completion length; at most {settings.max_num_tokens} "
                "(MEDREWARD_MAX_NUM_TOKENS)",
                f"{where}.num_tokens",
            )


_COMPLETION = attrgetter("completion")
_BOXES = attrgetter("boxes")
_REFERENCE = attrgetter("reference")
_GROUP = attrgetter("group")
_NUM_TOKENS = attrgetter("num_tokens")
_POLYGONS = attrgetter("polygons")
_RARE = attrgetter("polygons", "options", "grades", "knowledge")
_NO_RARE = (None, None, None, None)


def plainly_within(items: Sequence[Item], settings: Settings) -> bool:
    """True when no item can be over any limit of `check_items`; False when one may be (or is unusual).

    Records msgspec decoded into `checked_record`'s type for these settings are within every
    limit but the polygon vertices by construction. For other items, the check item by item in
    Python cost ~1.6 µs per item of a 256-item box batch, a third of the scorer's own time; this
    one reads each field across the batch with C-level ``map`` and ``max`` (~0.3 µs per item).
    It is conservative: polygons, options, grades, knowledge or a reference list, or anything at
    all near a limit, leave the verdict (and the exact 413 naming the first item over it) to
    the loop in `check_items`.
    """
    limits = ItemLimits.of(settings)
    kinds = set(map(type, items))
    if kinds == {one_box_record(limits)}:
        return True  # no polygons by construction: nothing left to check
    if kinds == {checked_record(limits)}:
        return not any_polygons(items)  # their vertices: the one limit left
    if max(map(len, map(_COMPLETION, items)), default=0) > settings.max_completion_chars:
        return False
    rare = list(map(_RARE, items))
    if rare.count(_NO_RARE) != len(rare):
        return False
    if most_boxes(items) > settings.max_boxes:
        return False
    references = list(filter(None, map(_REFERENCE, items)))
    if references and (
        set(map(type, references)) != {str} or max(map(len, references)) > settings.max_reference_chars
    ):
        return False
    groups = list(filter(None, map(_GROUP, items)))
    kinds = set(map(type, groups))
    if kinds == {str}:
        if max(map(len, groups)) > MAX_GROUP_CHARS:
            return False
    elif groups and kinds != {int}:  # integer ids need no check; a mix goes to the loop
        return False
    return max(filter(None, map(_NUM_TOKENS, items)), default=0) <= settings.max_num_tokens


@dataclass(frozen=True)
class ItemLimits:
    """The settings `check_items` enforces item by item, but the polygon vertices."""

    completion_chars: int
    reference_chars: int
    references: int
    boxes: int
    num_tokens: int

    @classmethod
    def of(cls, settings: Settings) -> ItemLimits:
        return cls(
            settings.max_completion_chars,
            settings.max_reference_chars,
            settings.max_references,
            settings.max_boxes,
            settings.max_num_tokens,
        )


@lru_cache(maxsize=8)
def checked_record(limits: ItemLimits) -> type[ItemRecord]:
    """`ItemRecord` with ``limits`` as msgspec constraints: what decodes into it is within them.

    msgspec checks lengths and bounds as it decodes (a string's length in characters, as
    ``len``): a 256-item box batch decodes in 109 µs against 98 unchecked, and `check_items` then
    takes 16 µs instead of 90 (2026-12-01). A body over any limit fails to decode, is validated by the
    model instead, and gets `check_items`' 413 naming the field. One class per set of limits
    (cached), so `plainly_within` can tell records checked against its settings by their type.
    """
    chars = msgspec.Meta(max_length=limits.reference_chars)
    text = Annotated[str, chars]
    texts = Annotated[list[text], msgspec.Meta(max_length=limits.references)]
    fields: list[tuple[str, Any, Any]] = [
        ("completion", Annotated[str, msgspec.Meta(max_length=limits.completion_chars)], msgspec.NODEFAULT),
        ("reference", text | texts | None, None),
        ("options", Annotated[dict[text, text], msgspec.Meta(max_length=limits.references)] | None, None),
        ("grades", texts | None, None),
        ("boxes", Annotated[list[list[float]], msgspec.Meta(max_length=limits.boxes)] | None, None),
        ("polygons", Annotated[list[list[list[float]]], msgspec.Meta(max_length=limits.boxes)] | None, None),
        ("knowledge", text | None, None),
        ("num_tokens", Annotated[int, msgspec.Meta(ge=0, le=limits.num_tokens)] | None, None),
        ("group", Annotated[str, msgspec.Meta(max_length=MAX_GROUP_CHARS)] | int | None, None),
    ]
    record = msgspec.defstruct(
        "CheckedItemRecord", fields, bases=(ItemRecord,), frozen=True, forbid_unknown_fields=True, module=__name__
    )
    return cast("type[ItemRecord]", record)


@lru_cache(maxsize=8)
def one_box_record(limits: ItemLimits) -> type[ItemRecord]:
    """`checked_record`'s type for items of the commonest grounding shape: at most one reference
    box, no polygons (not even an empty list).

    The request decoders try it first (`app.lean_requests`): records of this type say their
    batch's shape by their type, so neither the fast path's choice of the event loop
    (`app.fastpath`) nor `plainly_within` walks the batch to find polygons or count boxes, which
    took ~28 µs of a 256-item box batch's ~1.4 ms request (2026-12-02).
    """
    one_box = Annotated[list[list[float]], msgspec.Meta(max_length=min(1, limits.boxes))]
    record = msgspec.defstruct(
        "OneBoxItemRecord",
        [("boxes", one_box | None, None), ("polygons", None, None)],
        bases=(checked_record(limits),),
        frozen=True,
        forbid_unknown_fields=True,
        module=__name__,
    )
    return cast("type[ItemRecord]", record)


def one_box_records(items: Sequence[Item], settings: Settings) -> bool:
    """Whether ``items`` were all decoded into `one_box_record`'s type for ``settings``."""
    return set(map(type, items)) == {one_box_record(ItemLimits.of(settings))}


def any_polygons(items: Sequence[Item]) -> bool:
    """Whether any item holds a reference polygon (an empty list holds none), read across the batch in C."""
    return any(map(_POLYGONS, items))


def most_boxes(items: Sequence[Item]) -> int:
    """The most reference boxes any item holds (0 for none), read across the batch in C."""
    # filter(None, ...) drops None (and empty lists, which change nothing here).
    return max(map(len, filter(None, map(_BOXES, items))), default=0)


def _check_reference_texts(item: Item, settings: Settings, where: str) -> None:
    """References, options and grades: how many, and how long each (knowledge too)."""
    lists: dict[str, list[str]] = {}
    if isinstance(item.reference, list):
        lists["reference"] = item.reference
    if item.options is not None:
        lists["options"] = list(item.options.values())
    if item.grades is not None:
        lists["grades"] = item.grades
    for name, texts in lists.items():
        if len(texts) > settings.max_references:
            raise ApiError(
                413,
                "too_many_references",
                f"{len(texts)} {name}; at most {settings.max_references} per item (MEDREWARD_MAX_REFERENCES)",
                f"{where}.{name}",
            )
    singles = {"reference": item.reference} if isinstance(item.reference, str) else {}
    if item.knowledge is not None:
        singles["knowledge"] = item.knowledge
    named = [(f"{where}.{n}", t) for n, t in singles.items()]
    named += [(f"{where}.{n}[{k}]", t) for n, texts in lists.items() for k, t in enumerate(texts)]
    if item.options is not None:
        named += [(f"{where}.options.{k}", k) for k in item.options]
    for path, text in named:
        if len(text) > settings.max_reference_chars:
            raise ApiError(
                413,
                "reference_too_long",
                f"{len(text)} characters; at most {settings.max_reference_chars} per reference, option, grade "
                "or knowledge text (MEDREWARD_MAX_REFERENCE_CHARS)",
                path,
            )


def check_weights(weights: Sequence[float], field: str) -> None:
    """422 for a component weight that is neither 0 nor in [MIN_WEIGHT, 1e6] (profiles' own bounds)."""
    for i, w in enumerate(weights):
        if 0.0 < w < MIN_WEIGHT:
            raise ApiError(
                422,
                "invalid_field",
                f"weight {w:g} is too small to weigh anything; use 0 to leave the component out, or ≥ {MIN_WEIGHT:g}",
                f"{field}.components[{i}].weight",
            )


def check_outbound(params: BaseModel, allowed: frozenset[str], field: str) -> None:
    """422 for a judge URL the operator did not allow: a request must not choose where the service calls."""
    if "judge_url" not in type(params).model_fields:  # (a getattr that fails costs pydantic a raise)
        return
    url = params.judge_url  # type: ignore[attr-defined]  # checked just above
    if isinstance(url, str) and url.strip().rstrip("/") not in allowed:
        raise ApiError(
            422,
            "judge_url_not_allowed",
            "judge_url is not in MEDREWARD_ALLOWED_JUDGE_URLS (nor $MEDREWARD_JUDGE_URL)",
            f"{field}.judge_url",
        )


def check_text(text: str, settings: Settings, field: str) -> None:
    if len(text) > settings.max_completion_chars:
        raise ApiError(
            413,
            "completion_too_long",
            f"{len(text)} characters; at most {settings.max_completion_chars} per completion",
            field,
        )

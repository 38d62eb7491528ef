"""Items decoded by msgspec: `Item`'s fields without a pydantic model per item.

Building one `Item` model costs ~1.1-1.3 µs (a 256-item box batch from JSON: 0.30 ms, from
dicts 0.43 ms), half of what scoring it with ``iou`` costs; msgspec decodes the same items
into `ItemRecord` structs in ~0.27 µs each (measured here 2026-12-01). Rewards only read an
item's fields, which both types have under the same names, so they score either alike.

The records are an accelerator, never a second validator: `records_from_python` (and
`app.lean_requests`, for request bodies) return None whenever msgspec refuses anything (an unknown field, a float
where an int is due, a bool, NaN, a number past float range...), and the caller then validates
with the `Item` model as before, which accepts it (pydantic's lax conversions) or raises the one
error users see. What msgspec accepts, pydantic accepts with the same values: checked field by
field (`tests/scorers/test_item_records.py`, with hypothesis).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, cast

import msgspec

from scorers.types import Item


class ItemRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`Item`'s fields, types and defaults as a msgspec struct (`tests` check they stay in step)."""

    completion: str
    reference: str | list[str] | None = None
    kind: str | None = None
    options: dict[str, str] | None = None
    grades: list[str] | None = None
    boxes: list[list[float]] | None = None
    polygons: list[list[list[float]]] | None = None
    image_size: tuple[int, int] | None = None
    input_size: tuple[int, int] | None = None
    knowledge: str | None = None
    num_tokens: Annotated[int, msgspec.Meta(ge=0)] | None = None
    group: str | int | None = None


_LIST = list[ItemRecord]


def records_from_python(items: Sequence[Any]) -> list[Item] | None:
    """``items`` (plain dicts) as records, or None when msgspec refuses any: validate with `Item`.

    Typed as `Item` for the rewards' signatures: a record has every field of `Item` under the
    same name, and rewards only read fields (`tests/scorers/test_item_records.py` scores every
    registered reward's examples both ways).
    """
    try:
        records = msgspec.convert(items, _LIST, strict=True)
    except (msgspec.ValidationError, TypeError):
        return None
    return cast("list[Item]", records)


def with_fields(item: Item, **changes: Any) -> Item:
    """``item`` with some fields replaced, whichever type it is."""
    if isinstance(item, ItemRecord):
        return cast("Item", msgspec.structs.replace(item, **changes))
    return item.model_copy(update=changes)

"""``POST /v1/rewards/{name}`` and ``POST /v1/score`` bodies decoded by msgspec when they are plainly valid.

Validating a 256-item box batch into `RewardRequest` (a pydantic `Item` model per item) took
~0.30 ms of a ~1.5 ms request; msgspec decodes the same body into `ItemRecord` structs in
~0.07 ms (`scorers.item_records`). Anything msgspec refuses, a run (``run_id``) included, gets
None here and is validated by the model as before, so every error message is unchanged.

Items are decoded into `app.limits.checked_record`'s type for the settings' limits, so a body
over any limit is refused here (and gets the model's path and its 413), and `check_items`
knows the records within by their type; a batch of items with at most one reference box and no
polygons decodes into its narrower `one_box_record` type, which says that shape too.

A body decoded here needs none of `app.json_body`'s checks: msgspec refuses lone surrogate
escapes, and every value lands in a type of bounded nesting (`LEAN_DEPTH`), so a body that
nests deeper than that is refused too. Reward params are typed for it: scalars, lists of
scalars, and objects of those (``length``'s ``answer``), as every reward's params are.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, TypeVar, cast

import msgspec
import msgspec.inspect as mi

from app.limits import ItemLimits, checked_record, one_box_record
from app.schemas import REQUEST_ID, RewardRequest, ScoreRequest
from app.settings import Settings
from scorers import Item
from scorers.item_records import ItemRecord

_Scalar = str | int | float | bool | None
_Flat = _Scalar | list[_Scalar]
_Param = _Flat | dict[str, _Flat]


# `app.schemas.REQUEST_ID` with Python's anchors: msgspec matches with `re.search`, where "$"
# also matches before a final newline; pydantic's regex engine, like "\Z" here, does not.
_RequestId = Annotated[str, msgspec.Meta(pattern=r"\A" + REQUEST_ID.removeprefix("^").removesuffix("$") + r"\Z")]


class _PlainRewardRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A `RewardRequest` without a run: its items and params, and the client's request id, which
    the client library sends with every call (it names the call in errors) and which does nothing
    without a run."""

    items: list[ItemRecord]
    params: dict[str, _Param] = msgspec.field(default_factory=dict)
    details: bool = True
    request_id: _RequestId | None = None


class _PlainScoreRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A `ScoreRequest` by profile name without a run: an inline profile goes to the model."""

    profile: str
    items: list[ItemRecord]
    details: bool = True
    request_id: _RequestId | None = None


def nesting(info: mi.Type) -> int:
    """How deeply arrays and objects can nest in JSON decoded into ``info`` (0 for a scalar)."""
    if isinstance(info, mi.StructType):
        return 1 + max((nesting(f.type) for f in info.fields), default=0)
    if isinstance(info, mi.DictType):
        return 1 + max(nesting(info.key_type), nesting(info.value_type))
    if isinstance(info, mi.ListType):
        return 1 + nesting(info.item_type)
    if isinstance(info, mi.TupleType):
        return 1 + max((nesting(t) for t in info.item_types), default=0)
    if isinstance(info, mi.UnionType):
        return max(nesting(t) for t in info.types)
    if isinstance(info, mi.AnyType | mi.RawType):
        raise TypeError("unbounded nesting: a lean request type must not hold Any")
    return 0


# The deepest JSON either decoder accepts: a body it decodes is within MEDREWARD_MAX_JSON_DEPTH
# whenever that is at least this (settings allow 2 and up; the default is 64).
LEAN_DEPTH = max(nesting(mi.type_info(t)) for t in (_PlainRewardRequest, _PlainScoreRequest))

_S = TypeVar("_S", bound=msgspec.Struct)


# Where the one-box decoder's refusal may be its own: the only fields in which it is stricter.
_SHAPE_FIELDS = ("].boxes", "].polygons")


def _decoded(decoders: tuple[msgspec.json.Decoder[_S], msgspec.json.Decoder[_S]], body: bytes) -> _S | None:
    """``body`` by the one-box decoder, else (refused for a box or polygon) by the general one."""
    one_box, general = decoders
    try:
        return one_box.decode(body)
    except msgspec.MsgspecError as exc:
        # Refused anywhere else, the general decoder would refuse the body at the same place:
        # the two types differ in those two fields only.
        if not any(field in str(exc) for field in _SHAPE_FIELDS):
            return None
    try:
        return general.decode(body)
    except msgspec.MsgspecError:
        return None


@dataclass(frozen=True)
class LeanDecoders:
    """Both request kinds' decoders for one set of limits, each a pair: items of the one-box type
    (`app.limits.one_box_record`), then any items within the limits (`checked_record`). A body
    over any limit is refused by both."""

    reward: tuple[msgspec.json.Decoder[_PlainRewardRequest], msgspec.json.Decoder[_PlainRewardRequest]]
    score: tuple[msgspec.json.Decoder[_PlainScoreRequest], msgspec.json.Decoder[_PlainScoreRequest]]


@lru_cache(maxsize=8)
def lean_decoders(limits: ItemLimits, max_items: int) -> LeanDecoders:
    """The decoders for these limits: the lean request types with their items checked as decoded."""

    def checked(name: str, base: type[msgspec.Struct], record: type[ItemRecord]) -> Any:
        items = Annotated[list[record], msgspec.Meta(max_length=max_items)]  # type: ignore[valid-type]
        typ = msgspec.defstruct(name, [("items", items)], bases=(base,), forbid_unknown_fields=True, module=__name__)
        return msgspec.json.Decoder(typ)

    one_box, general = one_box_record(limits), checked_record(limits)
    return LeanDecoders(
        (
            checked("OneBoxRewardRequest", _PlainRewardRequest, one_box),
            checked("CheckedRewardRequest", _PlainRewardRequest, general),
        ),
        (
            checked("OneBoxScoreRequest", _PlainScoreRequest, one_box),
            checked("CheckedScoreRequest", _PlainScoreRequest, general),
        ),
    )


def _for(settings: Settings) -> LeanDecoders:
    return lean_decoders(ItemLimits.of(settings), settings.max_items)


# In both, the model's other fields keep their defaults (no run): the decoder refused any of them;
# a request_id without a run changes nothing.
# The records stand in for Items: they have the same fields, and the routes only read fields.


def plain_reward_request(body: bytes, settings: Settings) -> RewardRequest | None:
    """The request in ``body`` with its items as records checked against ``settings``' limits, or
    None: validate it with the model."""
    plain = _decoded(_for(settings).reward, body)
    if plain is None:
        return None
    return RewardRequest.model_construct(
        items=cast("list[Item]", plain.items), params=plain.params, details=plain.details, request_id=plain.request_id
    )


def plain_score_request(body: bytes, settings: Settings) -> ScoreRequest | None:
    """`plain_reward_request` for ``POST /v1/score``."""
    plain = _decoded(_for(settings).score, body)
    if plain is None:
        return None
    return ScoreRequest.model_construct(
        profile=plain.profile,
        items=cast("list[Item]", plain.items),
        details=plain.details,
        request_id=plain.request_id,
    )

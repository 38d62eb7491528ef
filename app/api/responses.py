"""Scoring responses serialised once, by pydantic, straight to bytes.

Returning a `Response` skips FastAPI's re-validation of the response model (and the extra
threadpool hop it takes for sync routes); the declared ``response_model`` still documents it.

A scoring response may be written after its report was committed to a run, so it must not fail
to render: a retry would replay the same report into the same failure and the trainer would never
get that step. Request text reaches this point clean (`app.json_body`); should a scorer still put
something pydantic cannot encode into its details, the response is written by a second renderer
that cannot fail on text (ASCII-escaped JSON, non-finite numbers as null, unknown types as repr).

`fast_json_response` writes plain payloads (str, int, float, bool, None, lists, tuples and
dicts with str keys) with orjson, ~3× faster than pydantic's serialiser on a batch's details and
byte for byte the same: both write floats in their shortest round-trip form (checked on 200,000
floats), escape the same characters and write NaN and infinities as null. Anything orjson would
write differently or not at all (numpy scalars, str/int/dict subclasses, dates, dataclasses,
sets, non-str keys, integers past 64 bits) makes it raise, and the response is then written by
pydantic as before.

With ``msgpack=True`` (the caller's ``Accept`` asked for it, `app.api.media`) the same payload is
written as MessagePack by msgspec, with the same values as the JSON response except one: a
non-finite float inside details is carried as it is (MessagePack has NaN and infinities; JSON
writes null). Rewards are null where they are not finite, in both. A payload msgspec refuses
takes the model's values (`_msgpack_plain`), as a JSON payload orjson refuses takes pydantic's.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
from fastapi import Response
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from app.api.media import MSGPACK

log = logging.getLogger(__name__)


def json_response(model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    try:
        body = model.model_dump_json()
    except (ValueError, RecursionError) as exc:  # PydanticSerializationError is a ValueError
        log.error("response rendered by the fallback encoder (a scorer returned unencodable details): %s", exc)
        body = json.dumps(_plain(model.model_dump()), ensure_ascii=True, default=repr)
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


# Types orjson would write in its own way (RFC 3339 dates, dataclasses as objects, subclasses as
# their base) go to the fallback instead, which pydantic writes: raising is the point.
_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


# A MessagePack response is its payload as msgspec writes it: the types `fast_response` lets
# through (str, int, float, bool, None, list, tuple, dict) are written as JSON writes them.
_MSGPACK_ENCODE = msgspec.msgpack.Encoder().encode
_INT_RANGE = range(-(2**63), 2**64)  # what MessagePack's integers hold
# The encoding follows the request's Accept header: a cache between client and service must key on it.
_VARY = {"vary": "accept"}


def model_response(model: BaseModel, *, msgpack: bool = False, status_code: int = 200) -> Response:
    """``model`` as JSON (`json_response`), or as MessagePack with the same values; either way
    marked as chosen by ``Accept``."""
    if not msgpack:
        return json_response(model, status_code, _VARY)
    return _msgpack(_MSGPACK_ENCODE(_msgpack_plain(model.model_dump())), status_code)


def fast_response(
    payload: dict[str, Any], model: Callable[[], BaseModel], *, msgpack: bool = False, status_code: int = 200
) -> Response:
    """``payload`` written by orjson (or msgspec's MessagePack encoder) when it holds plain values
    only; else ``model_response(model())``.

    ``payload`` must be what ``model()``'s ``model_dump_json`` would write: the same keys in the
    same order, values already of the fields' types (the caller checks what validation would
    change, e.g. an int reward pydantic writes as a float).
    """
    if msgpack:
        try:
            return _msgpack(_MSGPACK_ENCODE(payload), status_code)
        except (TypeError, ValueError, OverflowError):  # an unknown type, a lone surrogate, a 65-bit int
            return model_response(model(), msgpack=True, status_code=status_code)
    try:
        body = orjson.dumps(payload, option=_ORJSON_STRICT)
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return model_response(model(), status_code=status_code)
    return Response(body, status_code=status_code, media_type="application/json", headers=_VARY)


def _msgpack(body: bytes, status_code: int) -> Response:
    return Response(body, status_code=status_code, media_type=MSGPACK, headers=_VARY)


def _msgpack_plain(value: Any) -> Any:
    """A model's python-mode values in types msgspec writes, whatever a scorer put into its
    details: what the JSON response has for them (pydantic's JSON form of any other type, lone
    surrogates replaced), except that floats stay as they are (NaN included) and integers past
    MessagePack's 64 bits become floats."""
    kind = type(value)
    if kind is float or kind is bool or value is None:
        return value
    if kind is int:
        return value if value in _INT_RANGE else float(value)
    if kind is str:
        return value if value.isascii() else value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_msgpack_key(k): _msgpack_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_msgpack_plain(v) for v in value]
    if isinstance(value, float):  # numpy's float64 and other float subclasses: their value, NaN kept
        return float(value)
    return _msgpack_plain(to_jsonable_python(value, fallback=repr))


def _msgpack_key(key: Any) -> str:
    plain = _msgpack_plain(key)
    return plain if type(plain) is str else json.dumps(plain)


def _plain(value: Any) -> Any:
    """JSON-ready: non-finite floats → None, tuples → lists, keys → str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

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
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel

log = logging.getLogger(__name__)


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    try:
        body = model.model_dump_json()
    except (ValueError, RecursionError) as exc:  # PydanticSerializationError is a ValueError
        log.error("response rendered by the fallback encoder (a scorer returned unencodable details): %s", exc)
        body = json.dumps(_plain(model.model_dump()), ensure_ascii=True, default=repr)
    return Response(body, status_code=status_code, media_type="application/json")


# Types orjson would write in its own way (RFC 3339 dates, dataclasses as objects, subclasses as
# their base) go to the fallback instead, which pydantic writes: raising is the point.
_ORJSON_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def fast_json_response(payload: dict[str, Any], model: Callable[[], BaseModel], status_code: int = 200) -> Response:
    """``payload`` written by orjson when it holds plain JSON values only; else ``json_response(model())``.

    ``payload`` must be what ``model()``'s ``model_dump_json`` would write: the same keys in the
    same order, values already of the fields' types (the caller checks what validation would
    change, e.g. an int reward pydantic writes as a float).
    """
    try:
        body = orjson.dumps(payload, option=_ORJSON_STRICT)
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return json_response(model(), status_code)
    return Response(body, status_code=status_code, media_type="application/json")


def _plain(value: Any) -> Any:
    """JSON-ready: non-finite floats → None, tuples → lists, keys → str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

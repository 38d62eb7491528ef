"""Scoring responses serialised once, by pydantic, straight to bytes.

Returning a `Response` skips FastAPI's re-validation of the response model (and the extra
threadpool hop it takes for sync routes); the declared ``response_model`` still documents it.

A scoring response may be written after its report was committed to a run, so it must not fail
to render: a retry would replay the same report into the same failure and the trainer would never
get that step. Request text reaches this point clean (`app.json_body`); should a scorer still put
something pydantic cannot encode into its details, the response is written by a second renderer
that cannot fail on text (ASCII-escaped JSON, non-finite numbers as null, unknown types as repr).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

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


def _plain(value: Any) -> Any:
    """JSON-ready: non-finite floats → None, tuples → lists, keys → str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value

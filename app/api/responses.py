"""Scoring responses serialised once, by pydantic, straight to bytes.

Returning a `Response` skips FastAPI's re-validation of the response model (and the extra
threadpool hop it takes for sync routes); the declared ``response_model`` still documents it.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")

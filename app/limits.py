"""Request limits (settings): items per request, characters per completion, boxes per item.

Body bytes are limited earlier, by `app.middleware.BodyLimitMiddleware`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from app.api.errors import ApiError
from app.settings import Settings
from scorers import Item


def check_items(items: Sequence[Item], settings: Settings, field: str = "items") -> None:
    """413 naming the first item over a limit."""
    if len(items) > settings.max_items:
        raise ApiError(413, "too_many_items", f"{len(items)} items; at most {settings.max_items} per request", field)
    for i, item in enumerate(items):
        check_text(item.completion, settings, f"{field}[{i}].completion")
        for name in ("boxes", "polygons"):
            value = getattr(item, name)
            if value is not None and len(value) > settings.max_boxes:
                raise ApiError(
                    413,
                    "too_many_boxes",
                    f"{len(value)} {name}; at most {settings.max_boxes} per item",
                    f"{field}[{i}].{name}",
                )


def check_outbound(params: BaseModel, allowed: frozenset[str], field: str) -> None:
    """422 for a judge URL the operator did not allow: a request must not choose where the service calls."""
    url = getattr(params, "judge_url", None)
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

"""Trainer data → service items: dataset columns as Item fields, completion text, prompt groups.

Written here rather than imported from the service: the trainer side talks to the service over
HTTP only. The group hash is the one the service's adapters use, so a prompt keys the same GRPO
group whichever way it reaches the service.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ITEM_FIELDS", "REFERENCE_COLUMNS", "completion_text", "item_fields", "label_fields", "prompt_group"]

# The Item fields of the REST contract other than `completion`.
ITEM_FIELDS = (
    "reference",
    "kind",
    "options",
    "grades",
    "boxes",
    "polygons",
    "image_size",
    "input_size",
    "knowledge",
    "num_tokens",
    "group",
)
# Columns datasets commonly hold the ground truth in, in the order they are looked up
# (TRL datasets: `solution`/`answer`; verl: `ground_truth`; NeMo Gym: `expected_answer`; OpenRLHF: `label`).
REFERENCE_COLUMNS = ("reference", "answer", "solution", "ground_truth", "expected_answer", "label")


def plain(value: Any) -> Any:
    """JSON-ready: numpy arrays and scalars (verl's parquet columns) to Python, tuples to lists, null keys dropped.

    >>> plain({"boxes": ((1, 2, 3, 4),), "kind": None})
    {'boxes': [[1, 2, 3, 4]]}
    """
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and numpy scalars
    if callable(tolist):
        return plain(tolist())
    return value


def _reference(value: Any) -> dict[str, Any]:
    """One ground-truth value → Item fields (a plain answer, a list of answers, or an object of Item fields)."""
    value = plain(value)
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"reference": "yes" if value else "no"}
    if isinstance(value, int | float):
        return {"reference": str(value)} if math.isfinite(value) else {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                return item_fields(parsed)
        return {"reference": value}
    if isinstance(value, dict):
        return item_fields(value)
    if isinstance(value, list):
        return {"reference": [str(v) for v in value]}
    return {"reference": str(value)}


def label_fields(label: Any) -> dict[str, Any]:
    """A trainer's label (verl ``ground_truth``, OpenRLHF ``label``) → Item fields.

    >>> label_fields("yes"), label_fields('{"reference": "B", "kind": "mcq"}'), label_fields(True)
    ({'reference': 'yes'}, {'kind': 'mcq', 'reference': 'B'}, {'reference': 'yes'})
    """
    return _reference(label)


def item_fields(columns: Mapping[str, Any]) -> dict[str, Any]:
    """The Item fields among a row's columns; the first reference column found fills ``reference``.

    Other columns (images, prompts, ids) are left out: the service reads Item fields only.

    >>> item_fields({"solution": "left", "kind": "open", "image": object(), "boxes": None})
    {'kind': 'open', 'reference': 'left'}
    """
    out = {k: plain(columns[k]) for k in ITEM_FIELDS if k != "reference" and columns.get(k) is not None}
    for name in REFERENCE_COLUMNS:
        if columns.get(name) is not None:
            for key, value in _reference(columns[name]).items():
                out.setdefault(key, value)
            break
    return out


def completion_text(completion: Any) -> str:
    """A completion as text: a string, or a conversational completion (the assistant messages' text).

    >>> completion_text([{"role": "assistant", "content": "<answer>yes</answer>"}])
    '<answer>yes</answer>'
    >>> parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    >>> completion_text([{"role": "assistant", "content": parts}])
    'ab'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        parts: list[str] = []
        for message in completion:
            if not isinstance(message, Mapping) or message.get("role", "assistant") != "assistant":
                continue
            parts.append(_content_text(message.get("content")))
        return "".join(parts)
    raise TypeError(f"a completion must be a string or a list of messages, not {type(completion).__name__}")


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if isinstance(part, Mapping) and part.get("type") in ("text", "output_text"):
            texts.append(str(part.get("text", "")))
        elif isinstance(part, str):
            texts.append(part)
    return "".join(texts)


def _type_name(obj: Any) -> str:
    tolist = getattr(obj, "tolist", None)
    return str(tolist()) if callable(tolist) else type(obj).__name__


def prompt_group(prompt: Any) -> str:
    """Completions of one prompt form one GRPO group: key them by a hash of the prompt (text or messages).

    >>> prompt_group("Is there a pneumothorax?") == prompt_group("Is there a pneumothorax?")
    True
    """
    # Objects JSON cannot hold (a PIL image in a VLM prompt) count by type, never by identity or address.
    text = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, default=_type_name)
    return "p-" + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16]

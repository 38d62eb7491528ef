"""Request JSON made safe before any route sees it: nesting bounded, lone UTF-16 surrogates replaced.

Both checks run once, on the raw body, in `app.middleware.BodyLimitMiddleware`, so that every
route, adapter and error message downstream can rely on them:

- **Nesting.** JSON nested hundreds of levels deep is valid, but pydantic stops serialising at
  about 255 levels (a 500 for any echo of it, e.g. NeMo Gym's ``/verify``) and recursive code
  elsewhere fails sooner or later. Bodies nested deeper than ``MEDREWARD_MAX_JSON_DEPTH`` get 422.
- **Lone surrogates.** ``"\\ud800"`` is valid JSON but not Unicode text: Python decodes it to a
  str that cannot be encoded as UTF-8, so echoing it (details, group names, profile names), storing
  it or tokenising it fails. They are replaced by U+FFFD, the replacement character (Unicode's
  own advice for ill-formed code unit sequences), so the text is still scored and a retry of the
  same body gets the same, renderable result. Surrogate pairs (emoji written as ``\\ud83d\\ude00``
  by ASCII-only encoders) are valid and kept.

Both scans run at C speed (regular expressions, numpy) and cost nothing measurable on the usual
small per-sample bodies; the body is only parsed here when it may hold a lone surrogate escape.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

# Every byte but the quote and the four brackets, for bytes.translate (C speed, unlike a regular expression).
_NOT_QUOTES_OR_BRACKETS = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_QUOTE = ord('"')
# Per byte: +1 for an opening bracket, -1 for a closing one, 0 for anything else.
_STEP = np.zeros(256, dtype=np.int32)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
# Any escaped surrogate, and the valid pairs (high then low) that are not a problem.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_PAIR_ESCAPE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_LONE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
# Up to this size a body's brackets are counted before its depth is measured (see clean_json_body).
_COUNT_FIRST_BYTES = 4096


class BodyRejected(Exception):
    """The body cannot be accepted: the status, code and message of the error to send."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in ``body`` (0 for a scalar), ignoring string contents.

    Malformed JSON gets a number too (the parser rejects it later).

    >>> json_depth(b'{"a": [1, [2, "[[[["]], "b": {}}')
    3
    >>> json_depth(rb'["a\\\\", ["\\"[\\""]]')
    2
    """
    # Drop escaped backslashes, then escaped quotes: the quotes left delimit the strings exactly.
    # (Each replace costs ~1 ns a byte even when nothing matches; most bodies have no backslash.)
    unescaped = body
    if b"\\" in body:
        unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only quotes and brackets matter: a 256-item box batch of 30 kB keeps ~3.6 kB.
    kept = unescaped.translate(None, _NOT_QUOTES_OR_BRACKETS)
    if not kept:
        return 0
    codes = np.frombuffer(kept, dtype=np.uint8)
    # Outside strings: an even number of quotes so far (an opening quote itself counts as inside).
    outside = (np.cumsum(codes == _QUOTE, dtype=np.int32) & 1) == 0
    steps = _STEP[codes] * outside
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def replace_lone_surrogates(value: Any) -> tuple[Any, int]:
    """``value`` with every lone surrogate in its strings and keys replaced by U+FFFD, and how many.

    >>> replace_lone_surrogates({"a\\ud800": ["x\\udfffy", 1]})
    ({'a�': ['x�y', 1]}, 2)
    """
    if isinstance(value, str):
        return _LONE.subn(REPLACEMENT, value)
    if isinstance(value, list):
        out, total = [], 0
        for v in value:
            fixed, n = replace_lone_surrogates(v)
            out.append(fixed)
            total += n
        return out, total
    if isinstance(value, dict):
        fixed_dict: dict[str, Any] = {}
        total = 0
        for k, v in value.items():
            fk, nk = replace_lone_surrogates(k)
            fv, nv = replace_lone_surrogates(v)
            fixed_dict[fk] = fv
            total += nk + nv
        return fixed_dict, total
    return value, 0


def clean_json_body(body: bytes, max_depth: int) -> bytes:
    """The body to hand to the app: checked for depth, lone surrogates replaced.

    Raises `BodyRejected` (422) when the body nests deeper than ``max_depth``. A body that does
    not parse is returned unchanged: the route's own parser answers it with its 422.
    """
    # Cheap bound first for small bodies: nesting deeper than max_depth needs more brackets than
    # that. Large bodies nearly always have more, and counting costs half the scan itself.
    few = len(body) <= _COUNT_FIRST_BYTES and body.count(b"[") + body.count(b"{") <= max_depth
    if not few and json_depth(body) > max_depth:
        raise BodyRejected(
            422,
            "too_deeply_nested",
            f"JSON nested more than {max_depth} levels deep (MEDREWARD_MAX_JSON_DEPTH); flatten the request",
        )
    if not _SURROGATE_ESCAPE.search(body) or not _SURROGATE_ESCAPE.search(_PAIR_ESCAPE.sub(b"", body)):
        return body
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    fixed, replaced = replace_lone_surrogates(doc)
    if not replaced:  # e.g. an escaped backslash before "ud800": plain text, nothing to do
        return body
    return json.dumps(fixed, ensure_ascii=False).encode("utf-8")

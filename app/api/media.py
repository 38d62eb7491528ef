"""Which encoding a scoring response is written in: JSON, or MessagePack when the caller asks for it.

A 256-item box batch with every item's details is 42 kB of JSON with eight floats per item;
writing it is the largest part of what the server adds to the scorer (`bench/bench_instructions.py`),
and reading it back with ``json.loads`` costs the trainer more than the scoring did. MessagePack
carries the same values in 32 kB, encoded in about half the time (msgspec against orjson) and
decoded 3.5× faster than ``json.loads`` reads the JSON (2026-12-02). It is opt-in by ``Accept``
(RFC 9110 §12.5.1), so every client that sends none, or prefers JSON, gets the bytes it always got.
"""

from __future__ import annotations

from functools import lru_cache

MSGPACK = "application/msgpack"
# The names MessagePack goes by: IANA registered application/vnd.msgpack; application/msgpack and
# application/x-msgpack are what libraries send.
MSGPACK_TYPES = frozenset({MSGPACK, "application/vnd.msgpack", "application/x-msgpack"})
# Ranges that also cover JSON, most specific first: the first one present gives JSON's weight.
JSON_RANGES = ("application/json", "application/*", "*/*")


def msgpack_alternative(schema: str) -> dict[int | str, dict[str, object]]:
    """A scoring route's OpenAPI entry for its 200 answer's second encoding: ``schema``'s document."""
    return {
        200: {
            "content": {MSGPACK: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
            "description": "Scored: JSON, or the same document in MessagePack when Accept asks for it.",
        }
    }


@lru_cache(maxsize=64)  # a trainer sends one Accept header all run long; a hostile variety only evicts
def wants_msgpack(accept: str | None) -> bool:
    """True when ``accept`` weighs a MessagePack type above zero and at least as high as JSON.

    >>> wants_msgpack("application/msgpack"), wants_msgpack("application/msgpack, application/json;q=0.5")
    (True, True)
    >>> wants_msgpack(None), wants_msgpack("*/*"), wants_msgpack("application/json, application/msgpack;q=0.5")
    (False, False, False)
    """
    if not accept or "msgpack" not in accept:
        return False
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0  # an unreadable weight: as if not asked for
        weights[media] = max(weights.get(media, 0.0), quality)
    msgpack = max((weights.get(m, 0.0) for m in MSGPACK_TYPES), default=0.0)
    json_weight = next((weights[r] for r in JSON_RANGES if r in weights), 0.0)
    return msgpack > 0.0 and msgpack >= json_weight

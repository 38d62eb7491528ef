"""Atomic merges into a flat document: counters add, extremes keep the lowest or highest, the rest overwrite.

Statistics that several workers and replicas update at once (the run insight's per-step
counters, a per-sample group's reward range) cannot be written with ``put_doc``: two writers
reading the same old document would each write back their own sum and one update would be
lost. ``RunStore.merge_doc`` applies a `DocMerge` inside the store's own atomic step (the
memory store's lock, one SQLite write transaction, one Redis WATCH/MULTI transaction), and every operation
here is commutative, so the merged document does not depend on the order the writers came in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DocMerge:
    """What to merge into a flat document (a missing field starts from the value merged in).

    ``add``: counters, summed. ``low``/``high``: the field keeps the lowest/highest value seen.
    ``keep``: overwritten (last writer wins; for snapshots such as the schedule's window).
    """

    add: Mapping[str, float] = field(default_factory=dict)
    low: Mapping[str, float] = field(default_factory=dict)
    high: Mapping[str, float] = field(default_factory=dict)
    keep: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for part in (self.add, self.low, self.high):
            for key, value in part.items():
                if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                    raise ValueError(f"merge field {key!r} must be a finite number, got {value!r}")


def merge_fields(doc: dict[str, Any] | None, merge: DocMerge) -> dict[str, Any]:
    """``doc`` with ``merge`` applied (a new dict; ``None``: an empty document).

    >>> merge_fields({"n": 2, "lo": 0.5}, DocMerge(add={"n": 1}, low={"lo": 0.25}, keep={"step": 3}))
    {'n': 3, 'lo': 0.25, 'step': 3}
    """
    out = dict(doc or {})
    for key, value in merge.add.items():
        out[key] = out.get(key, 0) + value
    for key, value in merge.low.items():
        out[key] = value if key not in out else min(out[key], value)
    for key, value in merge.high.items():
        out[key] = value if key not in out else max(out[key], value)
    out.update(merge.keep)
    return out

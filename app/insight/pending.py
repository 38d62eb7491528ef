"""Merges waiting to be written: a scoring call adds to them in memory; a flush writes them to the store.

Writing each scoring call's statistics straight to SQLite would add a write transaction (an
fsync) to every per-sample request, doubling its latency. Every merge of run insight is
commutative (counters add, extremes keep the lowest or highest, snapshots keep the last), so
the merges of many calls to one document combine exactly into one, written once per flush.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from schedulers.stores.doc_merge import DocMerge

DocKey = tuple[str, str, str]
"""(tenant, kind, name) of a document."""


@dataclass
class Combined:
    """The merges of several calls to one document, combined."""

    add: dict[str, float] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    keep: dict[str, Any] = field(default_factory=dict)

    def absorb(self, merge: DocMerge) -> None:
        for key, value in merge.add.items():
            self.add[key] = self.add.get(key, 0) + value
        for key, value in merge.low.items():
            self.low[key] = min(self.low.get(key, value), value)
        for key, value in merge.high.items():
            self.high[key] = max(self.high.get(key, value), value)
        self.keep.update(merge.keep)

    def merge(self) -> DocMerge:
        return DocMerge(add=self.add, low=self.low, high=self.high, keep=self.keep)


class PendingMerges:
    """Thread-safe: request threads `add`, the flusher `take`s everything at once.

    >>> p = PendingMerges()
    >>> p.add(("t", "k", "d"), DocMerge(add={"n": 1}, low={"lo": 0.5}))
    >>> p.add(("t", "k", "d"), DocMerge(add={"n": 2}, low={"lo": 0.2}))
    >>> p.take()[("t", "k", "d")].merge()
    DocMerge(add={'n': 3}, low={'lo': 0.2}, high={}, keep={})
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: dict[DocKey, Combined] = {}

    def add(self, key: DocKey, merge: DocMerge) -> None:
        with self._lock:
            self._docs.setdefault(key, Combined()).absorb(merge)

    def take(self) -> dict[DocKey, Combined]:
        with self._lock:
            docs, self._docs = self._docs, {}
        return docs

    def __len__(self) -> int:
        with self._lock:
            return len(self._docs)

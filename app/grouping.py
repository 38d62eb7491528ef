"""Whole GRPO groups from per-sample traffic, for the run schedulers.

OpenRLHF ≥ 0.9.1, slime and NeMo Gym send one completion per request. Reporting each as its own
group would fill MedLoc-R1's window with one-sample "groups", whose reward spread (a single
0/1 hit) never passes the stability test, so τ would never rise. With ``group_size`` G, the
service scores each completion at once with the τ in force (as the scheduler would) and holds
its IoU until the G completions of the prompt have arrived, then reports the whole group.

The buffer lives in the worker process: with several workers or replicas, route a prompt's
samples to one process, or send whole groups (``POST /v1/score`` / ``/v1/rewards/iou``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

GroupKey = tuple[str, str, str]
"""(tenant, run_id, group)."""


@dataclass
class _Pending:
    ious: list[float | None] = field(default_factory=list)
    step: int | None = None
    tokens: set[str] = field(default_factory=set)
    since: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class ReadyGroup:
    key: GroupKey
    ious: list[float | None]
    step: int | None
    complete: bool


class GroupBuffer:
    """Thread-safe, bounded: past ``max_pending`` groups the oldest partial one is flushed as is."""

    def __init__(self, max_pending: int = 10_000) -> None:
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._pending: OrderedDict[GroupKey, _Pending] = OrderedDict()

    def add(
        self, key: GroupKey, ious: list[float | None], size: int, step: int | None, token: str | None = None
    ) -> list[ReadyGroup]:
        """Add a group's newly arrived IoUs; returns the groups now ready to report.

        ``token`` (the request_id) makes a retry of the same request add nothing.
        """
        ready: list[ReadyGroup] = []
        with self._lock:
            pending = self._pending.get(key)
            if pending is None:
                pending = self._pending[key] = _Pending()
            if token is not None:
                if token in pending.tokens:
                    return ready
                pending.tokens.add(token)
            pending.ious.extend(ious)
            if step is not None:
                pending.step = step if pending.step is None else max(pending.step, step)
            if len(pending.ious) >= size:
                del self._pending[key]
                ready.append(ReadyGroup(key, pending.ious, pending.step, True))
            while len(self._pending) > self.max_pending:
                old_key, old = self._pending.popitem(last=False)
                ready.append(ReadyGroup(old_key, old.ious, old.step, False))
        return ready

    def pending(self, tenant: str, run_id: str) -> int:
        with self._lock:
            return sum(1 for k in self._pending if k[0] == tenant and k[1] == run_id)

    def drain(self) -> list[ReadyGroup]:
        """Every partial group (at shutdown), oldest first."""
        with self._lock:
            out = [ReadyGroup(k, p.ious, p.step, False) for k, p in self._pending.items()]
            self._pending.clear()
        return out

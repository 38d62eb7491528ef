"""Whole GRPO groups from per-sample traffic, for the run schedulers.

OpenRLHF ≥ 0.9.1, slime and NeMo Gym send one completion per request. Reporting each as its own
group would fill MedLoc-R1's window with one-sample "groups", whose reward spread (a single
0/1 hit) never passes the stability test, so τ would never rise. With ``group_size`` G, the
service scores each completion at once with the τ in force (as the scheduler would) and holds
its IoU until the G completions of the prompt have arrived, then reports the whole group.

The samples are held in the run store, next to the run (``RunStore.add_samples``): every
worker process and every replica sharing the store feeds the same open groups, the sample that
completes a group reports it in the same atomic step, so each group is reported exactly once
and an acknowledged sample survives a crash as a report would. Incomplete groups close by the
rule of `schedulers.base.GroupPolicy`: idle for ``MEDREWARD_GROUP_TIMEOUT_S`` seconds, or
``MEDREWARD_GROUP_STEP_LAG`` steps behind a newer sample of the same run. Only the run being fed
pays for closing its own groups; a background sweep closes the groups of runs that went quiet.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence

from app import metrics
from schedulers.base import BufferResult, ClosedGroup, GroupPolicy, RunStore
from schedulers.stores.memory import MemoryStore

GroupKey = tuple[str, str, str]
"""(tenant, run_id, group)."""

log = logging.getLogger("app.grouping")


class GroupBuffer:
    """The service's handle on the store's group buffer: the close policy and the background sweep."""

    def __init__(self, policy: GroupPolicy | None = None, sweep_interval_s: float | None = None) -> None:
        self.policy = policy or GroupPolicy()
        # Often enough that a quiet run's groups close within a few percent of the timeout.
        self.sweep_interval_s = sweep_interval_s or min(max(self.policy.timeout_s / 20, 0.5), 15.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self,
        store: RunStore,
        key: GroupKey,
        ious: Sequence[float | None],
        size: int,
        step: int | None,
        token: str | None = None,
    ) -> BufferResult:
        """Hold a group's newly arrived IoUs; reports the groups this closes (``token``: the request id)."""
        tenant, run_id, group = key
        # One request may carry samples of several groups: each (request, group) is added once.
        sample_token = None if token is None else json.dumps([token, group])
        result = store.add_samples(
            tenant, run_id, group, ious, size=size, step=step, token=sample_token, policy=self.policy
        )
        metrics.GROUPS.labels(tenant=tenant).inc(len(result.closed))
        return result

    def sweep(self, store: RunStore, *, everything: bool = False) -> list[tuple[str, str, ClosedGroup]]:
        """Close the groups idle past the timeout (``everything``: every open group, for the memory store)."""
        policy = GroupPolicy(timeout_s=0.0) if everything else self.policy
        closed = store.close_stale_groups(policy)
        for tenant, _, _ in closed:
            metrics.GROUPS.labels(tenant=tenant).inc()
        return closed

    def start(self, store: RunStore) -> None:
        """Sweep in a daemon thread until `stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(store,), name="group-sweep", daemon=True)
        self._thread.start()

    def _loop(self, store: RunStore) -> None:
        while not self._stop.wait(self.sweep_interval_s):
            try:
                closed = self.sweep(store)
                if closed:
                    log.info("closed idle per-sample groups", extra={"groups": len(closed)})
            except Exception as exc:  # a store outage: the next sweep tries again
                log.warning("group sweep failed: %s", exc)

    def stop(self, store: RunStore) -> None:
        """Stop the sweep. The memory store dies with the process, so its open groups are reported now;
        the others keep them for the workers and replicas still running, or the next start."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if isinstance(store, MemoryStore):
            self.sweep(store, everything=True)

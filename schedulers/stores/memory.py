"""In-process run store: one lock, nothing survives the process (tests, single-worker demos)."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from schedulers.base import (
    BufferResult,
    ClosedGroup,
    GroupPolicy,
    GroupReport,
    ReportResult,
    RunExistsError,
    RunNotFoundError,
)
from schedulers.stores.doc_merge import DocMerge, merge_fields
from schedulers.stores.pending import Closing, check_samples, is_due, merge_step, report_closing
from schedulers.stores.records import (
    Record,
    apply_report,
    check_report,
    export_state,
    import_state,
    new_record,
    public_run,
    replay,
    report_digest,
    request_key,
    reset_record,
    run_summary,
)

# Request ids remembered per run (oldest forgotten first): trainers retry within seconds, so
# this only has to outlast a retry burst; 100k ids cost a few tens of MB at most.
DEFAULT_MAX_REQUESTS = 100_000
RunKey = tuple[str, str]


class _Open:
    """An open per-sample group."""

    __slots__ = ("ious", "last_at", "step")

    def __init__(self, now: float) -> None:
        self.ious: list[float | None] = []
        self.step: int | None = None
        self.last_at = now


class MemoryStore:
    """`RunStore` in a dict, serialised by one lock.

    >>> s = MemoryStore(); _ = s.create_run("t", "r", "fixed", {"tau": 0.5})
    >>> s.report("t", "r", [GroupReport("p", [0.7])], request_id="a").groups[0].rewards
    [1.0]
    >>> s.report("t", "r", [GroupReport("p", [0.7])], request_id="a").replayed, s.get_run("t", "r")["groups"]
    (True, 1)
    """

    def __init__(self, max_requests: int = DEFAULT_MAX_REQUESTS) -> None:
        self.max_requests = max_requests
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], Record] = {}
        # Stored as JSON text: cheaper than a deep copy, and replays cannot alias live state.
        self._requests: dict[tuple[str, str], OrderedDict[str, str]] = {}
        self._docs: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        # Open groups per run, least recently fed first; sample tokens per run, oldest first.
        self._open: dict[RunKey, OrderedDict[str, _Open]] = {}
        self._tokens: dict[RunKey, OrderedDict[str, float]] = {}

    def _forget_groups(self, key: RunKey) -> None:
        self._open.pop(key, None)
        self._tokens.pop(key, None)

    def _record(self, tenant: str, run_id: str) -> Record:
        try:
            return self._runs[(tenant, run_id)]
        except KeyError:
            raise RunNotFoundError(run_id) from None

    def create_run(self, tenant: str, run_id: str, scheduler: str, config: dict[str, Any]) -> dict[str, Any]:
        record = new_record(run_id, scheduler, config, time.time())
        with self._lock:
            if (tenant, run_id) in self._runs:
                raise RunExistsError(run_id)
            self._runs[(tenant, run_id)] = record
            self._requests[(tenant, run_id)] = OrderedDict()
        return public_run(record)

    def get_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._record(tenant, run_id)
        return public_run(record)

    def list_runs(self, tenant: str) -> list[dict[str, Any]]:
        with self._lock:
            records = [r for (t, _), r in sorted(self._runs.items()) if t == tenant]
        return [public_run(r) for r in records]

    def delete_run(self, tenant: str, run_id: str) -> None:
        with self._lock:
            self._record(tenant, run_id)
            del self._runs[(tenant, run_id)]
            self._requests.pop((tenant, run_id), None)
            self._forget_groups((tenant, run_id))

    def reset_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        with self._lock:
            record = reset_record(self._record(tenant, run_id), time.time())
            self._runs[(tenant, run_id)] = record
            self._requests[(tenant, run_id)] = OrderedDict()
            self._forget_groups((tenant, run_id))
        return public_run(record)

    def history(self, tenant: str, run_id: str) -> list[dict[str, Any]]:
        return self.get_run(tenant, run_id)["raises"]

    def tau(self, tenant: str, run_id: str) -> float:
        with self._lock:
            return float(self._record(tenant, run_id)["state"]["tau"])

    def get_state(self, tenant: str, run_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(export_state(self._record(tenant, run_id)))

    def put_state(self, tenant: str, run_id: str, state: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            record = import_state(self._record(tenant, run_id), copy.deepcopy(state), time.time())
            self._runs[(tenant, run_id)] = record
            self._requests[(tenant, run_id)] = OrderedDict()
            self._forget_groups((tenant, run_id))
        return public_run(record)

    def report(
        self,
        tenant: str,
        run_id: str,
        groups: Sequence[GroupReport],
        *,
        step: int | None = None,
        request_id: str | None = None,
    ) -> ReportResult:
        check_report(groups, step, request_id)
        with self._lock:
            record = self._record(tenant, run_id)
            seen = self._requests.setdefault((tenant, run_id), OrderedDict())
            key = request_key(record, request_id) if request_id else None
            digest = report_digest(groups) if request_id else ""
            if key is not None and request_id is not None and key in seen:
                return replay(json.loads(seen[key]), digest, request_id)
            new, result = apply_report(record, groups, step, time.time())
            self._runs[(tenant, run_id)] = new
            if key is not None:
                seen[key] = json.dumps(result.to_dict() | {"digest": digest})
                while len(seen) > self.max_requests:
                    seen.popitem(last=False)
        return result

    def add_samples(
        self,
        tenant: str,
        run_id: str,
        group: str,
        ious: Sequence[float | None],
        *,
        size: int,
        step: int | None = None,
        token: str | None = None,
        policy: GroupPolicy = GroupPolicy(),  # noqa: B008 (frozen dataclass)
    ) -> BufferResult:
        ious = check_samples(group, ious, size, step, token)
        now = time.time()
        key = (tenant, run_id)
        with self._lock:
            record = self._record(tenant, run_id)
            arrival = run_summary(record)
            groups = self._open.setdefault(key, OrderedDict())
            if token is not None:
                tokens = self._tokens.setdefault(key, OrderedDict())
                while tokens and next(iter(tokens.values())) <= now - policy.token_ttl_s:
                    tokens.popitem(last=False)
                if token in tokens:
                    return BufferResult(arrival, arrival, [], len(groups), duplicate=True)
                tokens[token] = now
            entry = groups.pop(group, None) or _Open(now)
            entry.ious.extend(ious)
            entry.step = merge_step(entry.step, step)
            entry.last_at = now
            closing: list[Closing] = []
            if len(entry.ious) >= size:
                closing.append((group, entry.ious, entry.step, True))
            else:
                groups[group] = entry  # most recently fed last
            closing += self._due(groups, now, step, policy, keep=group)
            if not closing:
                return BufferResult(arrival, arrival, [], len(groups))
            new, closed = report_closing(record, closing, now)
            self._runs[key] = new
            return BufferResult(arrival, public_run(new), closed, len(groups))

    @staticmethod
    def _due(
        groups: OrderedDict[str, _Open], now: float, step: int | None, policy: GroupPolicy, keep: str | None
    ) -> list[Closing]:
        """Remove and return the open groups the policy closes (``keep`` is the one just fed)."""
        due = [
            g for g, e in groups.items() if g != keep and is_due(e.step, e.last_at, now=now, step=step, policy=policy)
        ]
        excess = len(groups) - len(due) - policy.max_pending
        if excess > 0:
            taken = set(due)
            due += [g for g in groups if g not in taken][:excess]
        out: list[Closing] = []
        for g in due:
            e = groups.pop(g)
            out.append((g, e.ious, e.step, False))
        return out

    def close_stale_groups(
        self, policy: GroupPolicy, *, now: float | None = None
    ) -> list[tuple[str, str, ClosedGroup]]:
        now = time.time() if now is None else now
        out: list[tuple[str, str, ClosedGroup]] = []
        with self._lock:
            for key, groups in list(self._open.items()):
                closing = self._due(groups, now, None, policy, keep=None)
                if not closing or key not in self._runs:
                    continue
                self._runs[key], closed = report_closing(self._runs[key], closing, now)
                out += [(key[0], key[1], c) for c in closed]
        return out

    def pending_groups(self, tenant: str, run_id: str) -> int:
        with self._lock:
            return len(self._open.get((tenant, run_id), ()))

    def put_doc(self, tenant: str, kind: str, name: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._docs.setdefault((tenant, kind), {})[name] = copy.deepcopy(doc)

    def get_doc(self, tenant: str, kind: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            doc = self._docs.get((tenant, kind), {}).get(name)
        return copy.deepcopy(doc)

    def delete_doc(self, tenant: str, kind: str, name: str) -> bool:
        with self._lock:
            return self._docs.get((tenant, kind), {}).pop(name, None) is not None

    def list_docs(self, tenant: str, kind: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(dict(sorted(self._docs.get((tenant, kind), {}).items())))

    def merge_doc(self, tenant: str, kind: str, name: str, merge: DocMerge) -> tuple[dict[str, Any], bool]:
        with self._lock:
            docs = self._docs.setdefault((tenant, kind), {})
            created = name not in docs
            docs[name] = merge_fields(docs.get(name), merge)
            return copy.deepcopy(docs[name]), created

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release."""

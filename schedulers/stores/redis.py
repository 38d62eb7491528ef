"""Redis run store: several replicas on several hosts share one Redis (or Sentinel primary).

Each report is an optimistic transaction: WATCH the run key, read the run (and the request
id's stored result), apply the report in Python, then MULTI/SET/EXEC; if another replica
changed the run in between, EXEC fails and the report is retried from the read, so reports
are serialised per run and none is lost. Reports to one run that arrive at a replica while
another is in flight are applied together, in order, in its next transaction
(`schedulers.stores.combining`). The scheduler logic stays in Python (one
implementation for every store), which is why this is WATCH/MULTI and not a Lua script.

Keys (tenant, run id, kind and name are percent-encoded, so ``:`` in them cannot collide)::

    {prefix}:run:{tenant}:{run_id}          the run record (JSON)
    {prefix}:runs:{tenant}                  set of the tenant's run ids
    {prefix}:req:{tenant}:{run_id}:{request_id}   a report's result and the run's uid, with a TTL
    {prefix}:doc:{tenant}:{kind}            hash name → JSON document
    {prefix}:open:{tenant}:{run_id}, …:open-age:…, …:open-step:…, …:tokens:…, …:closing:…
                                            the run's per-sample group buffer (below)
    {prefix}:open-runs                      runs with open groups, by last add (for the sweep)

The per-sample group buffer is one Lua script (``redis_groups.lua``), so adding a sample,
completing its group and closing the groups the policy says are due happen atomically on the
Redis server: whichever replica adds a group's last sample gets the group, once. The script
moves a closed group into the run's *closing* hash; the replica then reports it with the
closing entry's id as request id (idempotent) and deletes the entry. If that replica dies in
between, the entry is handed out again after ``RECLAIM_S`` by the next add or sweep, and the
report's idempotency keeps it counted once. The script does not write the run record, so it
never makes a concurrent report's WATCH fail.

Idempotency records expire after ``request_ttl_s`` (default 7 days). They are written in the
same MULTI as the run, so watching the run key alone guards both. They carry the run's
incarnation ``uid``: after a reset or a delete an old one no longer matches, is ignored and
overwritten, or expires on its own.

Durability: an acknowledged report has been applied by Redis; it survives a crash of the
service (the client). Surviving a crash of Redis itself needs Redis persistence
(``appendonly yes``; ``appendfsync always`` for every write), which is Redis' configuration.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import redis

from schedulers.base import (
    BufferResult,
    ClosedGroup,
    GroupPolicy,
    GroupReport,
    GroupResult,
    ReportResult,
    RequestConflictError,
    RunExistsError,
    RunNotFoundError,
)
from schedulers.stores.combining import Combiner
from schedulers.stores.doc_merge import DocMerge, merge_fields
from schedulers.stores.pending import check_samples
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
    reset_record,
    run_summary,
)

DEFAULT_REQUEST_TTL_S = 7 * 24 * 3600
# Threads of one replica that write the same run queue on a local lock first, so that
# optimistic retries only happen between replicas (a few), not between every request in
# flight (hundreds, with per-sample trainers); the reports queued meanwhile go out together in
# the next holder's transaction (`combining`). Striped: bounded memory for any number of runs.
LOCK_STRIPES = 64
# A report that keeps losing the WATCH race for this long gives up with a TimeoutError, which
# the service answers with 503 + Retry-After (trainers retry), instead of holding the request
# thread without bound.
CONTENTION_DEADLINE_S = 10.0
# A closing group not reported this long after it closed is handed out again (its reporter died).
RECLAIM_S = 30.0
_GROUPS_LUA = (Path(__file__).with_name("redis_groups.lua")).read_text(encoding="utf-8")
T = TypeVar("T")


@dataclass(frozen=True)
class _Report:
    """One `RedisStore.report` call, as the combined transaction applies it."""

    groups: Sequence[GroupReport]
    step: int | None
    request_id: str | None
    req_key: str | None
    digest: str


def _q(s: str) -> str:
    return quote(s, safe="")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


class RedisStore:
    """`RunStore` on a Redis server (``redis://host:port/db``)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "medreward",
        request_ttl_s: int = DEFAULT_REQUEST_TTL_S,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.request_ttl_s = request_ttl_s
        self._writes: Combiner[_Report, ReportResult] = Combiner(LOCK_STRIPES)
        self._groups_script = client.register_script(_GROUPS_LUA)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStore:
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=30, health_check_interval=30)
        return cls(client, **kwargs)

    # ---- keys ----------------------------------------------------------------------------
    def _run_key(self, tenant: str, run_id: str) -> str:
        return f"{self.prefix}:run:{_q(tenant)}:{_q(run_id)}"

    def _index_key(self, tenant: str) -> str:
        return f"{self.prefix}:runs:{_q(tenant)}"

    def _req_key(self, tenant: str, run_id: str, request_id: str) -> str:
        return f"{self.prefix}:req:{_q(tenant)}:{_q(run_id)}:{_q(request_id)}"

    def _doc_key(self, tenant: str, kind: str) -> str:
        return f"{self.prefix}:doc:{_q(tenant)}:{_q(kind)}"

    def _buffer_keys(self, tenant: str, run_id: str) -> list[str]:
        tail = f"{_q(tenant)}:{_q(run_id)}"
        return [f"{self.prefix}:{kind}:{tail}" for kind in ("open", "open-age", "open-step", "tokens", "closing")]

    def _open_runs_key(self) -> str:
        return f"{self.prefix}:open-runs"

    # ---- optimistic transactions ---------------------------------------------------------
    def _optimistic(self, key: str, body: Callable[[Any], T]) -> T:
        """Run ``body(pipe)`` with ``key`` watched, retrying while another client wins the race."""
        with self._writes.lock(key):
            return self._transact(key, body)

    def _transact(self, key: str, body: Callable[[Any], T]) -> T:
        """`_optimistic` for a caller that holds ``key``'s lock."""
        attempt = 0
        deadline = time.monotonic() + CONTENTION_DEADLINE_S
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    return body(pipe)
                except redis.WatchError:
                    attempt += 1
                    if time.monotonic() > deadline:
                        raise redis.TimeoutError(
                            f"gave up after {attempt} attempts: other writers kept changing {key}"
                        ) from None
                    # Jittered backoff so that many replicas on one hot run do not retry in lockstep.
                    time.sleep(random.uniform(0, min(0.0005 * 2**attempt, 0.01)))
                finally:
                    pipe.reset()

    def _read(self, pipe: Any, tenant: str, run_id: str) -> Record:
        raw = pipe.get(self._run_key(tenant, run_id))
        if raw is None:
            raise RunNotFoundError(run_id)
        record: Record = json.loads(raw)
        return record

    # ---- runs ------------------------------------------------------------------------------
    def create_run(self, tenant: str, run_id: str, scheduler: str, config: dict[str, Any]) -> dict[str, Any]:
        record = new_record(run_id, scheduler, config, time.time())
        key = self._run_key(tenant, run_id)

        def body(pipe: Any) -> None:
            if pipe.exists(key):
                raise RunExistsError(run_id)
            pipe.multi()
            pipe.set(key, _dumps(record))
            pipe.sadd(self._index_key(tenant), run_id)
            pipe.execute()

        self._optimistic(key, body)
        return public_run(record)

    def get_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        return public_run(self._read(self.client, tenant, run_id))

    def list_runs(self, tenant: str) -> list[dict[str, Any]]:
        ids = sorted(self.client.smembers(self._index_key(tenant)))
        if not ids:
            return []
        raws = self.client.mget([self._run_key(tenant, i) for i in ids])
        return [public_run(json.loads(raw)) for raw in raws if raw is not None]

    def delete_run(self, tenant: str, run_id: str) -> None:
        key = self._run_key(tenant, run_id)

        def body(pipe: Any) -> None:
            self._read(pipe, tenant, run_id)
            pipe.multi()
            pipe.delete(key, *self._buffer_keys(tenant, run_id))
            pipe.srem(self._index_key(tenant), run_id)
            pipe.execute()

        self._optimistic(key, body)

    def reset_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        key = self._run_key(tenant, run_id)

        def body(pipe: Any) -> Record:
            record = reset_record(self._read(pipe, tenant, run_id), time.time())
            pipe.multi()
            pipe.set(key, _dumps(record))
            pipe.delete(*self._buffer_keys(tenant, run_id))
            pipe.execute()
            return record

        return public_run(self._optimistic(key, body))

    def history(self, tenant: str, run_id: str) -> list[dict[str, Any]]:
        raises: list[dict[str, Any]] = self._read(self.client, tenant, run_id)["state"]["raises"]
        return raises

    def tau(self, tenant: str, run_id: str) -> float:
        return float(self._read(self.client, tenant, run_id)["state"]["tau"])

    def get_state(self, tenant: str, run_id: str) -> dict[str, Any]:
        return export_state(self._read(self.client, tenant, run_id))

    def put_state(self, tenant: str, run_id: str, state: dict[str, Any]) -> dict[str, Any]:
        key = self._run_key(tenant, run_id)

        def body(pipe: Any) -> Record:
            record = import_state(self._read(pipe, tenant, run_id), state, time.time())
            pipe.multi()
            pipe.set(key, _dumps(record))
            pipe.delete(*self._buffer_keys(tenant, run_id))
            pipe.execute()
            return record

        return public_run(self._optimistic(key, body))

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
        key = self._run_key(tenant, run_id)
        req_key = self._req_key(tenant, run_id, request_id) if request_id is not None else None
        call = _Report(groups, step, request_id, req_key, report_digest(groups) if request_id is not None else "")
        # Reports to one run that arrive together go out in one transaction (`combining`).
        return self._writes.submit(key, call, partial(self._apply_reports, run_id, key))

    def _apply_reports(self, run_id: str, key: str, calls: list[_Report]) -> list[ReportResult | Exception]:
        """Every call in order against the run, in one optimistic transaction: one outcome per call
        (its result, a replay of its request id's stored result, or its `RequestConflictError`)."""

        def body(pipe: Any) -> list[ReportResult | Exception]:
            # One round trip for the run and every request's stored result: the window between
            # WATCH and EXEC, where another replica can make us retry, stays short.
            # Each request key once; calls without one read nothing more.
            req_keys = list(dict.fromkeys(c.req_key for c in calls if c.req_key is not None))
            raw, *kept = pipe.mget([key, *req_keys])
            if raw is None:
                raise RunNotFoundError(run_id)
            record: Record = json.loads(raw)
            stored = {k: json.loads(v) for k, v in zip(req_keys, kept, strict=True) if v is not None}
            outcomes: list[ReportResult | Exception] = []
            results: dict[str, dict[str, Any]] = {}  # request key → the result this transaction stores
            changed = False
            for call in calls:
                if call.req_key is not None:
                    seen = results.get(call.req_key) or stored.get(call.req_key)
                    if seen is not None and seen.get("uid") == record["uid"]:  # else: from before a reset
                        kept_result = seen["result"] | {"digest": seen.get("digest")}
                        try:
                            outcomes.append(replay(kept_result, call.digest, str(call.request_id)))
                        except RequestConflictError as exc:  # this call's own: its request id was reused
                            outcomes.append(exc)
                        continue
                record, result = apply_report(record, call.groups, call.step, time.time())
                changed = True
                if call.req_key is not None:
                    results[call.req_key] = {"uid": record["uid"], "digest": call.digest, "result": result.to_dict()}
                outcomes.append(result)
            if changed:
                pipe.multi()
                pipe.set(key, _dumps(record))
                for req_key, doc in results.items():
                    pipe.set(req_key, _dumps(doc), ex=self.request_ttl_s)
                pipe.execute()
            return outcomes

        return self._transact(key, body)

    # ---- the per-sample group buffer ---------------------------------------------------------
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
        reply = self._run_groups(tenant, run_id, policy, group, ious, size, step, token)
        if reply[1] is None:
            raise RunNotFoundError(run_id)
        arrival = run_summary(json.loads(reply[1]))
        closed, run = self._report_closing(tenant, run_id, reply[3:])
        return BufferResult(arrival, run or arrival, closed, int(reply[2]), duplicate=bool(reply[0]))

    def _run_groups(
        self,
        tenant: str,
        run_id: str,
        policy: GroupPolicy,
        group: str = "",
        ious: Sequence[float | None] = (),
        size: int = 1,
        step: int | None = None,
        token: str | None = None,
        now: float | None = None,
    ) -> list[Any]:
        keys = [self._run_key(tenant, run_id), *self._buffer_keys(tenant, run_id), self._open_runs_key()]
        args = [
            group,
            _dumps([float(v) if v is not None else None for v in ious]),
            size,
            "" if step is None else step,
            token or "",
            repr(time.time() if now is None else now),
            repr(float(policy.timeout_s)),
            policy.step_lag,
            policy.max_pending,
            repr(float(policy.token_ttl_s)),
            uuid.uuid4().hex,
            repr(RECLAIM_S),
            _dumps([tenant, run_id]),
            len(ious),
        ]
        reply: list[Any] = self._groups_script(keys=keys, args=args)
        return reply

    def _report_closing(
        self, tenant: str, run_id: str, entries: Sequence[str]
    ) -> tuple[list[ClosedGroup], dict[str, Any] | None]:
        """Report each closing entry (id, doc) the script handed out, then delete it."""
        closed: list[ClosedGroup] = []
        run: dict[str, Any] | None = None
        closing_key = self._buffer_keys(tenant, run_id)[4]
        for entry_id, doc_text in zip(entries[::2], entries[1::2], strict=True):
            doc = json.loads(doc_text)
            ious: list[float | None] = json.loads(doc["ious"])
            step = int(doc["step"]) if doc["step"] else None
            try:
                result = self.report(
                    tenant, run_id, [GroupReport(doc["group"], ious)], step=step, request_id=f"group:{entry_id}"
                )
            except RunNotFoundError:
                self.client.hdel(closing_key, entry_id)
                continue
            self.client.hdel(closing_key, entry_id)
            gres: GroupResult = result.groups[0]
            closed.append(ClosedGroup(doc["group"], ious, step, bool(doc["complete"]), gres))
            run = result.run
        return closed, run

    def close_stale_groups(
        self, policy: GroupPolicy, *, now: float | None = None
    ) -> list[tuple[str, str, ClosedGroup]]:
        now = time.time() if now is None else now
        # Runs fed recently close their own due groups on their next add; the sweep is for quiet runs.
        members = self.client.zrangebyscore(self._open_runs_key(), "-inf", now - min(policy.timeout_s, RECLAIM_S))
        out: list[tuple[str, str, ClosedGroup]] = []
        for member in members:
            tenant, run_id = json.loads(member)
            reply = self._run_groups(tenant, run_id, policy, now=now)
            closed, _ = self._report_closing(tenant, run_id, reply[3:])
            out += [(tenant, run_id, c) for c in closed]
        return out

    def pending_groups(self, tenant: str, run_id: str) -> int:
        return int(self.client.hlen(self._buffer_keys(tenant, run_id)[0]))

    # ---- documents ---------------------------------------------------------------------------
    def put_doc(self, tenant: str, kind: str, name: str, doc: dict[str, Any]) -> None:
        self.client.hset(self._doc_key(tenant, kind), name, _dumps(doc))

    def get_doc(self, tenant: str, kind: str, name: str) -> dict[str, Any] | None:
        raw = self.client.hget(self._doc_key(tenant, kind), name)
        return None if raw is None else dict(json.loads(raw))

    def delete_doc(self, tenant: str, kind: str, name: str) -> bool:
        return bool(self.client.hdel(self._doc_key(tenant, kind), name))

    def list_docs(self, tenant: str, kind: str) -> dict[str, dict[str, Any]]:
        raw = self.client.hgetall(self._doc_key(tenant, kind))
        return {name: json.loads(raw[name]) for name in sorted(raw)}

    def merge_doc(self, tenant: str, kind: str, name: str, merge: DocMerge) -> tuple[dict[str, Any], bool]:
        # WATCH/MULTI like a report, not Lua: cjson would round the sums to 14 digits.
        key = self._doc_key(tenant, kind)

        def body(pipe: Any) -> tuple[dict[str, Any], bool]:
            raw = pipe.hget(key, name)
            doc = merge_fields(None if raw is None else json.loads(raw), merge)
            pipe.multi()
            pipe.hset(key, name, _dumps(doc))
            pipe.execute()
            return doc, raw is None

        return self._optimistic(key, body)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self.client.close()

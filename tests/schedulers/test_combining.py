"""Calls queued on one key are applied together by the thread that holds its lock; each caller
gets its own outcome. Then the Redis store's reports through it, against a real redis-server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from schedulers.base import GroupReport, ReportResult, RequestConflictError
from schedulers.stores import open_store
from schedulers.stores.combining import Combiner
from schedulers.stores.redis import RedisStore

N = 12


def _piled_up(combiner: Combiner[Any, Any], key: str, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads while the test holds ``key``'s lock, until all are queued; then let
    go. Each call's outcome (its return value or the exception it raised), in ``calls``' order."""
    outcomes: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            outcomes[i] = calls[i]()
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    with combiner.lock(key):
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(combiner._queued.get(key, [])) < len(calls):
            assert time.monotonic() < deadline, "the calls never queued"
            time.sleep(0.001)
    for t in threads:
        t.join(10)
    return outcomes


def test_calls_queued_meanwhile_are_applied_in_one_go_each_with_its_own_outcome() -> None:
    combiner: Combiner[int, int] = Combiner(4)
    batches: list[list[int]] = []

    def apply(calls: list[int]) -> list[int | Exception]:
        batches.append(calls)
        return [ValueError(f"call {c} refused") if c == 3 else c * 10 for c in calls]

    outcomes = _piled_up(combiner, "run", [lambda i=i: combiner.submit("run", i, apply) for i in range(N)])
    assert len(batches) == 1 and sorted(batches[0]) == list(range(N)), "one holder applied every queued call"
    assert [o for i, o in enumerate(outcomes) if i != 3] == [i * 10 for i in range(N) if i != 3]
    assert isinstance(outcomes[3], ValueError) and str(outcomes[3]) == "call 3 refused"
    assert combiner._queued == {}


def test_a_failed_apply_fails_every_call_it_got_and_the_next_calls_start_afresh() -> None:
    combiner: Combiner[int, int] = Combiner(4)

    def broken(calls: list[int]) -> list[int | Exception]:
        raise ConnectionError("store down")

    outcomes = _piled_up(combiner, "run", [lambda i=i: combiner.submit("run", i, broken) for i in range(N)])
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert len({id(o) for o in outcomes}) == N, "each thread raises its own copy"
    assert combiner.submit("run", 7, lambda calls: [c + 1 for c in calls]) == 8


def test_an_apply_that_miscounts_its_outcomes_fails_loudly() -> None:
    combiner: Combiner[int, int] = Combiner(4)
    with pytest.raises(RuntimeError, match="0 outcomes for 1 combined calls"):
        combiner.submit("run", 1, lambda calls: [])


def test_keys_queue_apart() -> None:
    combiner: Combiner[str, str] = Combiner(64)
    seen: list[list[str]] = []

    def apply(calls: list[str]) -> list[str | Exception]:
        seen.append(calls)
        return calls

    assert combiner.submit("a", "a1", apply) == "a1"
    assert combiner.submit("b", "b1", apply) == "b1"
    assert seen == [["a1"], ["b1"]]


# ---- the Redis store's reports ------------------------------------------------------------------


def _redis(url: str) -> RedisStore:
    store = open_store(url)
    assert isinstance(store, RedisStore)
    store.create_run("lab", "r1", "medloc", {})
    return store


def _group(i: int) -> GroupReport:
    return GroupReport(f"g{i}", [0.1 * (i % 10), 0.9, None])


def test_concurrent_reports_go_out_in_one_transaction_as_if_one_by_one(clean_redis_url: str) -> None:
    store = _redis(clean_redis_url)
    transactions: list[int] = []
    original = store._transact

    def counted(key: str, body: Any) -> Any:
        transactions.append(1)
        return original(key, body)

    store._transact = counted  # type: ignore[method-assign]
    key = store._run_key("lab", "r1")
    calls = [lambda i=i: store.report("lab", "r1", [_group(i)], step=i, request_id=f"req-{i}") for i in range(N)]
    outcomes = _piled_up(store._writes, key, calls)
    assert len(transactions) == 1
    assert all(isinstance(o, ReportResult) and not o.replayed for o in outcomes)
    run = store.get_run("lab", "r1")
    assert run["groups"] == N
    # The same reports one by one, in the order the transaction applied them, into a second run.
    order = [int(o.groups[0].group[1:]) for o in sorted(outcomes, key=lambda o: o.run["groups"])]
    store.create_run("lab", "r2", "medloc", {})
    one_by_one = [store.report("lab", "r2", [_group(i)], step=i) for i in order]
    assert [o.groups for o in one_by_one] == [outcomes[i].groups for i in order]
    kept = ("tau", "step", "groups", "window", "raises")
    assert {k: store.get_run("lab", "r2")[k] for k in kept} == {k: run[k] for k in kept}
    # Each request id kept its own result: a retry replays it, whichever transaction it joins.
    again = store.report("lab", "r1", [_group(5)], step=5, request_id="req-5")
    assert again.replayed and again.groups == outcomes[5].groups
    assert store.get_run("lab", "r1")["groups"] == N


def test_a_reused_request_id_fails_only_its_own_call_in_a_combined_transaction(clean_redis_url: str) -> None:
    store = _redis(clean_redis_url)
    store.report("lab", "r1", [_group(0)], request_id="taken")
    key = store._run_key("lab", "r1")
    calls = [
        lambda: store.report("lab", "r1", [_group(99)], request_id="taken"),  # other groups: a conflict
        lambda: store.report("lab", "r1", [_group(0)], request_id="taken"),  # a true retry: a replay
        lambda: store.report("lab", "r1", [_group(1)], request_id="new"),
        lambda: store.report("lab", "r1", [_group(1)], request_id="new"),  # a retry racing its original
        lambda: store.report("lab", "r1", [_group(2)]),  # no id: always applied
    ]
    conflict, replayed, first, second, plain = _piled_up(store._writes, key, calls)
    assert isinstance(conflict, RequestConflictError)
    assert isinstance(replayed, ReportResult) and replayed.replayed
    assert isinstance(first, ReportResult) and isinstance(second, ReportResult)
    assert first.groups == second.groups and sorted([first.replayed, second.replayed]) == [False, True]
    assert isinstance(plain, ReportResult) and not plain.replayed
    assert store.get_run("lab", "r1")["groups"] == 3  # g0, g1 once, g2


def test_a_missing_run_fails_every_combined_report(clean_redis_url: str) -> None:
    store = _redis(clean_redis_url)
    key = store._run_key("lab", "gone")
    calls = [lambda i=i: store.report("lab", "gone", [_group(i)]) for i in range(4)]
    outcomes = _piled_up(store._writes, key, calls)
    assert [type(o).__name__ for o in outcomes] == ["RunNotFoundError"] * 4

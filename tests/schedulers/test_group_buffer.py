"""The per-sample group buffer in every store: groups completed by anyone, reported once, closed by the policy."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from schedulers.base import GroupPolicy, RunNotFoundError, RunStore
from schedulers.stores import open_store

CTX = mp.get_context("spawn")


@pytest.fixture
def store(store_url: str) -> Iterator[RunStore]:
    s = open_store(store_url)
    s.create_run("t", "r", "fixed", {"tau": 0.5})
    yield s
    s.close()


def test_a_group_is_reported_once_when_its_last_sample_arrives(store: RunStore) -> None:
    for i, iou in enumerate([0.9, 0.2, 0.7]):
        res = store.add_samples("t", "r", "p1", [iou], size=4, step=3)
        assert res.closed == [] and res.pending == 1, f"sample {i}"
        assert res.arrival["tau"] == 0.5
    res = store.add_samples("t", "r", "p1", [0.6], size=4, step=3)
    assert [(c.group, c.ious, c.step, c.complete) for c in res.closed] == [("p1", [0.9, 0.2, 0.7, 0.6], 3, True)]
    assert res.closed[0].result.rewards == [1.0, 0.0, 1.0, 1.0]
    assert res.pending == 0 and res.run["groups"] == 1 and store.get_run("t", "r")["groups"] == 1
    assert store.pending_groups("t", "r") == 0


def test_an_overfull_group_is_reported_once_with_everything(store: RunStore) -> None:
    assert store.add_samples("t", "r", "g", [0.1, 0.2, 0.3], size=4).closed == []
    res = store.add_samples("t", "r", "g", [0.4, 0.5, 0.6], size=4)
    assert [c.ious for c in res.closed] == [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]
    assert store.get_run("t", "r")["groups"] == 1


def test_a_retried_sample_adds_nothing(store: RunStore) -> None:
    assert not store.add_samples("t", "r", "g", [0.9], size=2, token="a").duplicate
    again = store.add_samples("t", "r", "g", [0.9], size=2, token="a")
    assert again.duplicate and again.closed == [] and again.pending == 1
    res = store.add_samples("t", "r", "g", [0.1], size=2, token="b")
    assert [c.ious for c in res.closed] == [[0.9, 0.1]]
    # A retry that comes after its group closed does not open a phantom group either.
    assert store.add_samples("t", "r", "g", [0.9], size=2, token="a").duplicate
    assert store.pending_groups("t", "r") == 0


def test_nan_and_out_of_range_ious_are_unscorable_samples(store: RunStore) -> None:
    res = store.add_samples("t", "r", "g", [float("nan"), 7.0, 0.8], size=3)
    assert res.closed[0].ious == [None, None, 0.8] and res.closed[0].result.rewards == [None, None, 1.0]


def test_an_idle_group_is_closed_partial_by_the_next_sample_of_the_run(store: RunStore) -> None:
    policy = GroupPolicy(timeout_s=0.2)
    store.add_samples("t", "r", "old", [0.9, 0.8], size=8, policy=policy)
    time.sleep(0.3)
    res = store.add_samples("t", "r", "new", [0.1], size=8, policy=policy)
    assert [(c.group, c.ious, c.complete) for c in res.closed] == [("old", [0.9, 0.8], False)]
    assert res.pending == 1 and store.get_run("t", "r")["groups"] == 1


def test_a_later_step_closes_groups_step_lag_behind(store: RunStore) -> None:
    policy = GroupPolicy(step_lag=2)
    store.add_samples("t", "r", "s5", [0.9], size=8, step=5, policy=policy)
    store.add_samples("t", "r", "s6", [0.9], size=8, step=6, policy=policy)
    assert store.add_samples("t", "r", "x", [0.9], size=8, step=6, policy=policy).closed == []
    res = store.add_samples("t", "r", "y", [0.9], size=8, step=7, policy=policy)
    assert [(c.group, c.step) for c in res.closed] == [("s5", 5)]
    assert store.pending_groups("t", "r") == 3


def test_past_max_pending_the_oldest_group_closes(store: RunStore) -> None:
    policy = GroupPolicy(max_pending=2)
    for g in ("a", "b"):
        assert store.add_samples("t", "r", g, [0.5], size=4, policy=policy).closed == []
    res = store.add_samples("t", "r", "c", [0.5], size=4, policy=policy)
    assert [c.group for c in res.closed] == ["a"] and res.pending == 2


def test_the_sweep_closes_quiet_runs_only_and_drops_deleted_runs(store: RunStore) -> None:
    store.create_run("other", "r", "fixed", {"tau": 0.5})
    store.create_run("t", "gone", "fixed", {"tau": 0.5})
    store.add_samples("t", "r", "g", [0.9], size=4)
    store.add_samples("other", "r", "g", [0.1, 0.2], size=4)  # same run id and group, another tenant
    store.add_samples("t", "gone", "g", [0.3], size=4)
    store.delete_run("t", "gone")
    assert store.close_stale_groups(GroupPolicy(timeout_s=60)) == []
    swept = store.close_stale_groups(GroupPolicy(timeout_s=60), now=time.time() + 61)
    assert sorted((t, r, c.group, tuple(c.ious)) for t, r, c in swept) == [
        ("other", "r", "g", (0.1, 0.2)),
        ("t", "r", "g", (0.9,)),
    ]
    assert store.get_run("other", "r")["groups"] == 1 and store.get_run("t", "r")["groups"] == 1
    assert store.pending_groups("t", "r") == 0 and store.pending_groups("other", "r") == 0


def test_a_deleted_run_forgets_its_groups_and_is_not_found(store: RunStore) -> None:
    store.add_samples("t", "r", "g", [0.9], size=2)
    store.delete_run("t", "r")
    with pytest.raises(RunNotFoundError):
        store.add_samples("t", "r", "g", [0.9], size=2)
    store.create_run("t", "r", "fixed", {"tau": 0.5})
    assert store.add_samples("t", "r", "g", [0.9], size=2).closed == [], "the old sample went with the old run"


def test_reset_forgets_open_groups(store: RunStore) -> None:
    store.add_samples("t", "r", "g", [0.9], size=2, token="x")
    store.reset_run("t", "r")
    assert store.pending_groups("t", "r") == 0
    assert not store.add_samples("t", "r", "g", [0.9], size=2, token="x").duplicate


def test_samples_are_scored_with_the_tau_at_arrival(store_url: str) -> None:
    s = open_store(store_url)
    s.create_run("t", "m", "medloc", {"window": 2})
    try:
        taus = []
        for g in range(4):
            for _ in range(4):
                res = s.add_samples("t", "m", f"p{g}", [0.95], size=4)
                taus.append((res.arrival["tau"], res.run["tau"]))
        assert taus[-1][1] > 0.3, "τ rose on whole groups of hits"
        raised = [i for i, (a, b) in enumerate(taus) if b > a]
        assert raised and all(taus[i][0] == 0.3 for i in range(raised[0] + 1)), "arrival is the τ before the raise"
    finally:
        s.close()


# ---- several processes feeding the same groups ---------------------------------------------------------


def feed(url: str, samples: list[tuple[str, float]], out: Connection, start: mp.synchronize.Event) -> None:
    """Worker: add its samples one by one; send back the groups it closed."""
    store = open_store(url)
    start.wait()
    closed = []
    for group, iou in samples:
        for c in store.add_samples("t", "r", group, [iou], size=8, token=f"{group}:{iou}").closed:
            closed.append((c.group, len(c.ious), c.complete))
    out.send(closed)
    store.close()


@pytest.fixture(params=["sqlite", "redis"], ids=["sqlite", "redis"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    url: str = request.getfixturevalue("clean_redis_url")
    return url


@pytest.mark.slow
def test_4_processes_complete_32_groups_of_8_each_reported_once(shared_url: str) -> None:
    store = open_store(shared_url)
    store.create_run("t", "r", "fixed", {"tau": 0.5})
    samples = [(f"p{g}", round(0.1 * k + 0.01 * g, 4)) for g in range(32) for k in range(8)]
    random.Random(7).shuffle(samples)
    start = CTX.Event()
    pipes = [CTX.Pipe(duplex=False) for _ in range(4)]
    procs = [CTX.Process(target=feed, args=(shared_url, samples[w::4], pipes[w][1], start)) for w in range(4)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    start.set()
    closed = [c for reader, _ in pipes for c in reader.recv()]
    for p in procs:
        p.join(60)
    assert sorted(closed) == sorted((f"p{g}", 8, True) for g in range(32))
    assert store.get_run("t", "r")["groups"] == 32 and store.pending_groups("t", "r") == 0
    store.close()


def feed_and_ack(url: str, count: int, acks: Connection) -> None:
    store = open_store(url)
    acks.send("ready")
    for i in range(count):
        store.add_samples("t", "r", f"p{i // 4}", [0.5], size=4, token=f"s{i}")
        acks.send(i)


@pytest.mark.slow
def test_acknowledged_samples_survive_a_killed_worker(shared_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from schedulers.stores import redis as redis_store

    # Killed between closing a group and reporting it, the worker leaves a closing entry (Redis) that the
    # next sweep hands out after RECLAIM_S; at once here.
    monkeypatch.setattr(redis_store, "RECLAIM_S", 0.0)
    store = open_store(shared_url)
    store.create_run("t", "r", "fixed", {"tau": 0.5})
    reader, writer = CTX.Pipe(duplex=False)
    proc = CTX.Process(target=feed_and_ack, args=(shared_url, 100_000, writer))
    proc.start()
    assert reader.recv() == "ready"
    acked = -1
    while acked < 201:
        acked = reader.recv()
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    while reader.poll(0.2):
        acked = reader.recv()
    # Everything acknowledged is either in a reported group or still open, and closes later.
    swept = store.close_stale_groups(GroupPolicy(timeout_s=0.0), now=time.time() + 1)
    run = store.get_run("t", "r")
    reported_samples = 4 * (run["groups"] - len(swept)) + sum(len(c.ious) for _, _, c in swept)
    assert reported_samples >= acked + 1
    assert store.pending_groups("t", "r") == 0
    store.close()


def test_redis_a_group_whose_reporter_died_is_reported_once_by_the_next(
    clean_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schedulers.stores import redis as redis_store

    store = open_store(clean_redis_url)
    assert isinstance(store, redis_store.RedisStore)
    store.create_run("t", "r", "fixed", {"tau": 0.5})
    store.add_samples("t", "r", "g", [0.9], size=2)
    # The replica that completes the group dies before reporting it: the script ran, the report did not.
    reply = store._run_groups("t", "r", GroupPolicy(), "g", [0.7], 2)
    assert len(reply) == 5 and store.get_run("t", "r")["groups"] == 0
    monkeypatch.setattr(redis_store, "RECLAIM_S", 0.0)
    swept = store.close_stale_groups(GroupPolicy(), now=time.time() + 1)
    assert [(c.group, c.ious, c.complete) for _, _, c in swept] == [("g", [0.9, 0.7], True)]
    # The slow original reporter comes back: its report replays, the group is counted once.
    store._report_closing("t", "r", reply[3:])
    assert store.get_run("t", "r")["groups"] == 1
    assert store.close_stale_groups(GroupPolicy(), now=time.time() + 2) == []
    store.close()


def test_sqlite_group_commit_batches_threads_and_isolates_a_failing_call(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from schedulers.stores.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "gc.db")
    store.create_run("t", "r", "fixed", {"tau": 0.5})
    commits = 0
    original = store._commit_batch

    def counting(batch: list[object]) -> None:
        nonlocal commits
        commits += 1
        original(batch)  # type: ignore[arg-type]

    store._commit_batch = counting  # type: ignore[method-assign]

    def add(i: int) -> object:
        run = "missing" if i % 50 == 7 else "r"  # a few calls fail inside shared transactions
        try:
            return store.add_samples("t", run, f"p{i // 8}", [0.9], size=8, token=f"s{i}")
        except RunNotFoundError:
            return "not found"

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(add, range(400)))
    failed = [i for i, r in enumerate(results) if r == "not found"]
    assert failed == [i for i in range(400) if i % 50 == 7]
    assert commits < 400, "calls made meanwhile shared a commit"
    assert store.pending_groups("t", "r") == len({i // 8 for i in failed})
    assert store.get_run("t", "r")["groups"] == 50 - len({i // 8 for i in failed})
    store.close()

"""Concurrency and durability with real processes: sqlite (one file) and redis (a real server).

Each test spawns worker processes ('spawn', as uvicorn/gunicorn workers are separate
interpreters) that open the store from its URL and report into one shared run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from schedulers.base import GroupReport
from schedulers.stores import open_store
from schedulers.stores.sqlite import SQLiteStore

CTX = mp.get_context("spawn")
TENANT, RUN = "lab", "grounding-1"
G = 8


def _group(worker: int, i: int) -> GroupReport:
    rng = random.Random(worker * 100_003 + i)
    return GroupReport(f"w{worker}-{i}", [rng.uniform(0.0, 1.0) for _ in range(G)])


def _group_of(request_id: str) -> GroupReport:
    """What a request carries: every retry of an id resends the same group (another one is a 409)."""
    rng = random.Random(request_id)
    return GroupReport(request_id, [rng.uniform(0.0, 1.0) for _ in range(G)])


def write_reports(url: str, worker: int, ids: list[str], start: mp.synchronize.Event) -> None:
    """Worker: one report per id, as fast as it can, once every worker is ready."""
    store = open_store(url)
    start.wait()
    for i, request_id in enumerate(ids):
        store.report(TENANT, RUN, [_group_of(request_id)], step=i, request_id=request_id)
    store.close()


def write_and_ack(url: str, worker: int, count: int, acks: Connection) -> None:
    """Worker: report, and only after the call returned, acknowledge the id to the parent."""
    store = open_store(url)
    acks.send("ready")
    for i in range(count):
        request_id = f"w{worker}-{i}"
        store.report(TENANT, RUN, [_group(worker, i)], step=i, request_id=request_id)
        acks.send(request_id)
    acks.send("done")
    store.close()


@pytest.fixture(params=["sqlite", "redis"], ids=["sqlite", "redis"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    url: str = request.getfixturevalue("clean_redis_url")
    return url


def _run_workers(url: str, id_lists: list[list[str]], timeout: float = 120.0) -> None:
    start = CTX.Event()
    procs = [CTX.Process(target=write_reports, args=(url, w, ids, start)) for w, ids in enumerate(id_lists)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # let the interpreters come up, so that the writes really overlap
    start.set()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(deadline - time.monotonic(), 0.1))
    stuck = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    assert not stuck, f"workers {stuck} did not finish in {timeout}s"
    assert [p.exitcode for p in procs] == [0] * len(procs), "every worker exited cleanly"


@pytest.mark.slow
def test_8_processes_x_500_reports_are_each_counted_exactly_once(shared_url: str) -> None:
    store = open_store(shared_url)
    store.create_run(TENANT, RUN, "medloc", {})
    _run_workers(shared_url, [[f"w{w}-{i}" for i in range(500)] for w in range(8)])
    run = store.get_run(TENANT, RUN)
    assert run["groups"] == 4000
    assert run["reports"] == 4000
    assert run["window"]["size"] > 0
    store.close()


@pytest.mark.slow
def test_retries_racing_the_original_are_not_double_counted(shared_url: str) -> None:
    """4 processes send the same 150 request ids (each in its own order): 150 groups, not 600."""
    store = open_store(shared_url)
    store.create_run(TENANT, RUN, "fixed", {"tau": 0.5})
    ids = [f"batch-{i}" for i in range(150)]
    orders = [random.Random(w).sample(ids, len(ids)) for w in range(4)]
    _run_workers(shared_url, orders)
    run = store.get_run(TENANT, RUN)
    assert run["groups"] == 150 and run["reports"] == 150
    for request_id in ids[:10]:
        assert store.report(TENANT, RUN, [_group_of(request_id)], request_id=request_id).replayed
    assert store.get_run(TENANT, RUN)["groups"] == 150
    store.close()


@pytest.mark.slow
def test_acknowledged_reports_survive_a_writer_killed_mid_stream(shared_url: str) -> None:
    """Writer A is SIGKILLed after 100 acknowledged reports while writer B keeps going."""
    store = open_store(shared_url)
    store.create_run(TENANT, RUN, "medloc", {})
    store.close()

    pipes = [CTX.Pipe(duplex=False) for _ in range(2)]
    killed = CTX.Process(target=write_and_ack, args=(shared_url, 0, 10_000, pipes[0][1]))
    survivor = CTX.Process(target=write_and_ack, args=(shared_url, 1, 200, pipes[1][1]))
    killed.start()
    survivor.start()
    for reader, _ in pipes:
        assert reader.recv() == "ready"

    acked: list[str] = []
    while len(acked) < 100:
        acked.append(pipes[0][0].recv())
    assert killed.pid is not None
    os.kill(killed.pid, signal.SIGKILL)
    killed.join()
    assert killed.exitcode == -signal.SIGKILL
    while pipes[0][0].poll(0.2):  # acks already in the pipe when the kill landed
        msg = pipes[0][0].recv()
        acked.append(msg)

    survivor_acks = []
    while (msg := pipes[1][0].recv()) != "done":
        survivor_acks.append(msg)
    survivor.join(60)
    assert survivor.exitcode == 0 and len(survivor_acks) == 200

    # "Restart": a fresh store object, as a restarted service would open.
    reopened = open_store(shared_url)
    run = reopened.get_run(TENANT, RUN)
    # At most one report of the killed writer may have committed without being acknowledged.
    assert len(acked) + 200 <= run["groups"] <= len(acked) + 201
    for request_id in acked + survivor_acks:
        worker, i = (int(x) for x in request_id[1:].split("-"))  # a retry resends what "w{worker}-{i}" sent
        again = reopened.report(TENANT, RUN, [_group(worker, i)], request_id=request_id)
        assert again.replayed, f"acknowledged report {request_id} is missing after the kill"
    assert reopened.get_run(TENANT, RUN)["groups"] == run["groups"], "replays counted nothing"
    reopened.close()
    if shared_url.startswith("sqlite"):
        path = shared_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# ---- SQLite: writers of every process queue on one lock file ----------------------------------------

_PROBE = "import fcntl, os, sys; fcntl.flock(os.open(sys.argv[1], os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)"


def _lock_is_free(path: Path) -> bool:
    """Whether another process can take the writers' lock now (without waiting)."""
    return subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True).returncode == 0


def _child_lock_is_free(store: SQLiteStore, out: Connection) -> None:
    """A forked child's view: its own descriptor, not the parent's (which would share its lock)."""
    import fcntl

    try:
        fcntl.flock(store._writer_lock_fd(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        out.send(True)
    except BlockingIOError:
        out.send(False)


def test_sqlite_writers_hold_the_lock_file_for_their_transaction(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    lock = tmp_path / "runs.db-writer.lock"
    with store._tx():  # a write transaction, as every write takes (the API's writes are all inside one)
        assert not _lock_is_free(lock), "another process waits in the kernel, not in SQLite's busy handler"
        parent, child = mp.get_context("fork").Pipe()
        forked = mp.get_context("fork").Process(target=_child_lock_is_free, args=(store, child))
        forked.start()
        forked.join(30)
        assert parent.poll(0) and parent.recv() is False, "a forked worker queues too"
    assert _lock_is_free(lock)
    store.create_run(TENANT, RUN, "medloc", {})  # and the writes go on
    assert _lock_is_free(lock)
    store.close()


def open_fresh_files(paths: list[str], barrier: mp.synchronize.Barrier, out: Connection) -> None:
    """Worker: open each new database at the same moment as the other workers, as the workers of
    `medreward serve --workers N` do on a first start; report every failure to the parent."""
    errors = []
    for path in paths:
        barrier.wait(60)
        try:
            SQLiteStore(Path(path)).close()
        except sqlite3.OperationalError as exc:
            errors.append(f"{path}: {exc}")
    out.send(errors)


def test_workers_opening_a_new_database_together_all_start(tmp_path: Path) -> None:
    # CI, 2026-12-01: two uvicorn workers opened a new file at once, and one failed its
    # startup with "database is locked" from PRAGMA journal_mode = WAL (SQLite does not wait
    # for that lock, busy timeout or not). Six processes, twelve new files, all at once.
    paths = [str(tmp_path / f"new-{i}.db") for i in range(12)]
    barrier = CTX.Barrier(6)
    pipes = [CTX.Pipe(duplex=False) for _ in range(6)]
    procs = [CTX.Process(target=open_fresh_files, args=(paths, barrier, w)) for _, w in pipes]
    for p in procs:
        p.start()
    errors = [r.recv() if r.poll(120) else ["no answer in 120 s"] for r, _ in pipes]
    for p in procs:
        p.join(30)
    assert errors == [[]] * 6, errors
    for path in paths:
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)

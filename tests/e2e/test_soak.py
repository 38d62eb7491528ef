"""A bounded soak: mixed traffic on ``medreward serve --workers 2`` (SQLite), a worker SIGKILLed mid-way.

uvicorn's supervisor starts a new worker in its place. Checked: no acknowledged report is lost
or counted twice (the trainer client retries with the same request_id), no request outlives its
timeout, and the workers' memory is flat once warm (RSS sampled from /proc).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from schedulers.stores import open_store
from tests.e2e.conftest import KEYS, Server, server_env
from trainer.client import MedRewardClient

SOAK_S = float(os.environ.get("MEDREWARD_SOAK_S", "75"))
REQUEST_TIMEOUT_S = 10.0  # per attempt
CALL_DEADLINE_S = 30.0  # per call, retries included
HIT = "<think>t</think><answer>[10, 10, 50, 50]</answer>"
MISS = "<think>t</think><answer>[60, 60, 90, 90]</answer>"
MCQ = {"completion": "<think>t</think><answer>B</answer>", "reference": "B", "options": {"A": "x", "B": "y"}}


def children(pid: int) -> list[int]:
    """uvicorn's worker processes (its multiprocessing resource tracker is a child too, left out)."""
    try:
        pids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    workers = []
    for child in pids:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            workers.append(child)
    return workers


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Traffic:
    """Client threads of three kinds; every acknowledged request id recorded, every latency bounded."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.batches: list[str] = []
        self.samples: dict[str, int] = {}
        self.plain = 0
        self.slowest = 0.0
        self.failures: list[str] = []

    def client(self) -> MedRewardClient:
        return MedRewardClient(
            self.url, KEYS["alice"], timeout=REQUEST_TIMEOUT_S, max_retries=20, backoff=0.05, deadline=CALL_DEADLINE_S
        )

    def _timed(self, fn: Any) -> Any:
        start = time.monotonic()
        out = fn()
        with self.lock:
            self.slowest = max(self.slowest, time.monotonic() - start)
        return out

    def batch_loop(self, worker: int) -> None:
        with self.client() as c:
            i = 0
            while not self.stop.is_set():
                rid = f"b{worker}-{i}"
                items = [
                    {"completion": HIT if k % 4 else MISS, "boxes": [[10, 10, 50, 50]], "group": f"{rid}-g{g}"}
                    for g in range(2)
                    for k in range(8)
                ]
                self._guard(lambda: c.reward("iou", items, run_id="soak", step=i, request_id=rid))  # noqa: B023
                with self.lock:
                    self.batches.append(rid)
                i += 1

    def sample_loop(self, worker: int) -> None:
        with self.client() as c:
            p = 0
            while not self.stop.is_set():
                group = f"s{worker}-p{p}"
                for k in range(8):  # a whole group, even if the soak ends meanwhile
                    item = {"completion": HIT if k != 3 else MISS, "boxes": [[10, 10, 50, 50]], "group": group}
                    self._guard(
                        lambda: c.reward("iou", [item], run_id="soak", group_size=8, request_id=f"{group}-{k}")  # noqa: B023
                    )
                with self.lock:
                    self.samples[group] = 8
                p += 1

    def plain_loop(self) -> None:
        with self.client() as c:
            while not self.stop.is_set():
                self._guard(lambda: c.score([MCQ] * random.randint(1, 32), "vqa-mcq"))
                with self.lock:
                    self.plain += 1

    def _guard(self, fn: Any) -> None:
        try:
            self._timed(fn)
        except Exception as exc:  # recorded, the test fails on it
            with self.lock:
                self.failures.append(repr(exc))


@pytest.mark.slow
def test_soak_with_a_worker_killed_and_restarted(tmp_path: Path) -> None:
    srv = Server(tmp_path / "soak.db", server_env(MEDREWARD_LOAD_MODELS="false"), ["--workers", "2"]).start()
    assert srv.proc is not None
    try:
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {KEYS['alice']}"}) as h:
            made = h.post("/v1/runs", json={"run_id": "soak", "scheduler": "medloc", "config": {"window": 16}})
            assert made.status_code == 201, made.text
        deadline = time.monotonic() + 30
        while len(children(srv.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers_before = children(srv.proc.pid)
        assert len(workers_before) == 2, workers_before

        traffic = Traffic(srv.url)
        threads = [threading.Thread(target=traffic.batch_loop, args=(w,)) for w in range(2)]
        threads += [threading.Thread(target=traffic.sample_loop, args=(w,)) for w in range(3)]
        threads += [threading.Thread(target=traffic.plain_loop) for _ in range(2)]
        for t in threads:
            t.start()
        start = time.monotonic()
        samples: list[tuple[float, float]] = []  # (t, RSS of the surviving worker)
        killed = False
        survivor = workers_before[0]
        while time.monotonic() - start < SOAK_S:
            time.sleep(1.0)
            elapsed = time.monotonic() - start
            samples.append((elapsed, rss_mb(survivor)))
            if not killed and elapsed > SOAK_S / 3:
                os.kill(workers_before[1], signal.SIGKILL)
                killed = True
        traffic.stop.set()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a client thread hung"
        # uvicorn's supervisor reaps and replaces a dead worker on its next round (it pings each
        # live worker first, which a loaded machine slows): give it time, then check.
        deadline = time.monotonic() + 30
        workers_after = children(srv.proc.pid)
        while (len(workers_after) != 2 or workers_before[1] in workers_after) and time.monotonic() < deadline:
            time.sleep(0.5)
            workers_after = children(srv.proc.pid)
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {KEYS['alice']}"}) as h:
            run = h.get("/v1/runs/soak").json()
    finally:
        assert srv.stop() == 0, srv.logs()[-3000:]

    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.slowest < CALL_DEADLINE_S + REQUEST_TIMEOUT_S, f"a call took {traffic.slowest:.1f}s"
    assert len(workers_after) == 2 and workers_before[1] not in workers_after, "uvicorn replaced the killed worker"
    expected = 2 * len(traffic.batches) + len(traffic.samples)
    assert run["groups"] == expected, f"{run['groups']} groups counted, {expected} acknowledged"
    store = open_store(f"sqlite:///{tmp_path / 'soak.db'}")
    try:
        assert store.pending_groups("alice", "soak") == 0, "every per-sample group completed"
    finally:
        store.close()
    assert traffic.plain > 50 and len(traffic.batches) > 20 and len(traffic.samples) > 20
    # Flat memory: the surviving worker's RSS over the last half moves by less than 10% (and 20 MB).
    half = [rss for t, rss in samples if t > SOAK_S / 2]
    print(
        f"soak {SOAK_S:.0f}s: {len(traffic.batches)} batches, {len(traffic.samples)} per-sample groups, "
        f"{traffic.plain} profile calls; {run['groups']} groups counted; slowest call {traffic.slowest:.2f}s; "
        f"survivor RSS {samples[0][1]:.0f} -> {samples[-1][1]:.0f} MB (last half {min(half):.0f}-{max(half):.0f})"
    )
    assert half and max(half) - min(half) < max(20.0, 0.1 * min(half)), half

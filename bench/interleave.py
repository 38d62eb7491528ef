"""A server under load and in-process calls, alternating in slices of a few tens of milliseconds.

A ratio of two rates measured seconds apart on these shared machines is mostly a measure of how
the machine's speed moved in between: on 2026-12-02 the in-process 256-item batch took anywhere
from 0.8 to 1.3 ms of CPU within ten minutes, and five load-benchmark rounds of 2 s of wrk then
0.5 s in-process gave one body 0.55-0.88x in a single run. Here the load generator (a wrk
process) is paused with SIGSTOP, the in-process calls run for `Slices.off_s`, it resumes with
SIGCONT for `Slices.on_s`, and so on, so both sides are measured within ~0.1 s of each other all
through the run, and the machine's drift falls on both alike.

What is compared is CPU: the server's processes' CPU seconds over the run (from /proc, which
also counts whatever its idle threads do while the load is paused: against the server) divided
by the requests wrk completed, and the in-process calls' own thread CPU. A server that is
CPU-bound on its cores serves ``cores / CPU per request`` requests per second, and a single-threaded
in-process loop ``1 / CPU per call``, so the throughput ratio follows from these and the server's
cores (`bench.bench_load` takes those from an uninterrupted run).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Slices:
    """How long each phase lasts. ``settle_s``: after pausing the load, for the server to finish
    the requests in flight (a 256-item batch takes 1-2 ms) before the in-process calls start."""

    on_s: float = 0.06
    off_s: float = 0.05
    settle_s: float = 0.01


@dataclass
class Calls:
    """One in-process way's calls over a run: how many, and their thread CPU and wall seconds."""

    calls: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    @property
    def cpu_us_per_call(self) -> float:
        return self.cpu_s * 1e6 / self.calls if self.calls else float("nan")


def interleave(
    load: subprocess.Popen[str],
    ways: Mapping[str, Callable[[], object]],
    seconds: float,
    slices: Slices = Slices(),
) -> dict[str, Calls]:
    """Alternate ``load`` (running) with calls of ``ways`` (``load`` paused) for ``seconds``.

    Each pause calls one way, in turn, for ``slices.off_s``, after one call that is not counted
    (the first after the server's traffic finds the caches holding the server's data, as the
    server's first request after a pause finds them holding the calls'). ``load`` is left running.
    """
    out = {name: Calls() for name in ways}
    names = list(ways)
    end = time.perf_counter() + seconds
    turn = 0
    try:
        while time.perf_counter() < end:
            os.kill(load.pid, signal.SIGSTOP)
            time.sleep(slices.settle_s)
            name = names[turn % len(names)]
            turn += 1
            call, acc = ways[name], out[name]
            call()
            stop = time.perf_counter() + slices.off_s
            while True:
                wall, cpu = time.perf_counter(), time.thread_time()
                call()
                now = time.perf_counter()
                acc.cpu_s += time.thread_time() - cpu
                acc.wall_s += now - wall
                acc.calls += 1
                if now >= stop:
                    break
            os.kill(load.pid, signal.SIGCONT)
            time.sleep(slices.on_s)
    finally:
        if load.poll() is None:
            os.kill(load.pid, signal.SIGCONT)
    return out

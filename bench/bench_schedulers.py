"""Benchmark of scheduler reports through each run store: reports/s and p50/p99 latency.

One report = one GRPO group of G=8 raw IoUs (MedLoc-R1's group size) with a fresh
``request_id``, into one ``medloc`` run, the way the service calls ``RunStore.report``:

- ``state machine``: the bare ``MedLocScheduler`` (no store, no JSON), the floor;
- ``memory``: the in-process store;
- ``sqlite``: a file in a temp dir, ``synchronous=full`` (default) and ``normal``;
- ``redis``: a ``redis-server`` this bench starts on a free port (no persistence).

Each store also runs with several threads sharing one store object (the service's
threadpool), and sqlite/redis with several writer processes ('spawn') into the same run: the
throughput is then all writers together, the latency each call's own, contention included.

Prints a table and writes ``bench/results/schedulers.json``.
Run: ``python -m bench.bench_schedulers [--reports 2000] [--procs 1 4]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from bench.report import print_table, write_json
from schedulers.base import GroupReport, RunStore
from schedulers.medloc import MedLocConfig, MedLocScheduler
from schedulers.stores import open_store

G = 8  # MedLoc-R1: GRPO group size G=8
TENANT, RUN = "bench", "run"
CTX = mp.get_context("spawn")


def _groups(n: int, seed: int) -> list[GroupReport]:
    rng = random.Random(seed)
    return [GroupReport(f"g{seed}-{i}", [rng.uniform(0.2, 0.9) for _ in range(G)]) for i in range(n)]


def _percentile(sorted_s: Sequence[float], q: float) -> float:
    return sorted_s[min(int(q * len(sorted_s)), len(sorted_s) - 1)]


def _row(store: str, procs: int, latencies: list[float], elapsed: float, threads: int = 1) -> dict[str, Any]:
    lat = sorted(latencies)
    return {
        "store": store,
        "procs": procs,
        "threads": threads,
        "reports": len(lat),
        "reports/s": len(lat) / elapsed,
        "p50 ms": _percentile(lat, 0.50) * 1e3,
        "p99 ms": _percentile(lat, 0.99) * 1e3,
        "mean ms": statistics.fmean(lat) * 1e3,
    }


def bench_state_machine(n: int) -> dict[str, Any]:
    sched = MedLocScheduler(MedLocConfig())
    groups = _groups(n, 0)
    lat = []
    t0 = time.perf_counter()
    for i, g in enumerate(groups):
        s = time.perf_counter()
        sched.report([g], step=i)
        lat.append(time.perf_counter() - s)
    return _row("state machine", 1, lat, time.perf_counter() - t0)


def _timed_reports(store: RunStore, groups: list[GroupReport], prefix: str) -> list[float]:
    lat = []
    for i, g in enumerate(groups):
        s = time.perf_counter()
        store.report(TENANT, RUN, [g], step=i, request_id=f"{prefix}-{i}")
        lat.append(time.perf_counter() - s)
    return lat


def _worker(url: str, worker: int, n: int, start: Any, out: Any) -> None:
    store = open_store(url)
    groups = _groups(n, worker)
    store.report(TENANT, RUN, [groups[0]], request_id=f"warm-{worker}")  # connect outside the timing
    start.wait()
    t0 = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
    lat = _timed_reports(store, groups, f"w{worker}")
    out.put((t0, time.monotonic(), lat))
    store.close()


def bench_store(label: str, url: str, procs: int, n: int, threads: int = 1) -> dict[str, Any]:
    """``procs`` processes, or ``threads`` threads sharing one store object (the service's threadpool)."""
    store = open_store(url)
    try:
        store.delete_run(TENANT, RUN)
    except KeyError:
        pass
    store.create_run(TENANT, RUN, "medloc", {})
    if procs == 1:
        store.report(TENANT, RUN, _groups(1, 99), request_id="warm")
        per_thread = n // threads
        lats: list[list[float]] = [[] for _ in range(threads)]

        def run(t: int) -> None:
            lats[t] = _timed_reports(store, _groups(per_thread, t), f"t{t}")

        pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
        t0 = time.perf_counter()
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        row = _row(label, 1, [x for ls in lats for x in ls], time.perf_counter() - t0, threads)
        expected = per_thread * threads + 1
    else:
        start, out = CTX.Event(), CTX.Queue()
        ps = [CTX.Process(target=_worker, args=(url, w, n, start, out)) for w in range(procs)]
        for p in ps:
            p.start()
        time.sleep(1.0)  # interpreters up and connected before the gun
        start.set()
        results = [out.get(timeout=600) for _ in ps]
        for p in ps:
            p.join()
        lat = [x for _, _, ls in results for x in ls]
        elapsed = max(r[1] for r in results) - min(r[0] for r in results)
        row = _row(label, procs, lat, elapsed)
        expected = n * procs + procs
    groups_counted = store.get_run(TENANT, RUN)["groups"]
    store.close()
    assert groups_counted == expected, f"{label}: counted {groups_counted} groups, expected {expected}"
    return row


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A private redis-server without persistence; yields its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*args, "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    try:
        for _ in range(500):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=2000, help="reports per process")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 4], help="writer process counts (sqlite, redis)")
    parser.add_argument("--threads", type=int, default=8, help="threads sharing one store (0: skip)")
    parser.add_argument("--stores", nargs="+", default=["memory", "sqlite", "redis"], help="stores to measure")
    args = parser.parse_args(argv)

    rows = [bench_state_machine(args.reports)]
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"memory": "memory://", "sqlite full": f"sqlite:///{tmp}/full.db"}
        urls["sqlite normal"] = f"sqlite:///{tmp}/normal.db?synchronous=normal"
        with redis_server(Path(tmp)) if "redis" in args.stores else nullcontext("") as redis_url:
            urls["redis"] = redis_url
            for label, url in urls.items():
                if label.split()[0] not in args.stores:
                    continue
                rows.append(bench_store(label, url, 1, args.reports))
                if args.threads > 1:
                    rows.append(bench_store(label, url, 1, args.reports, threads=args.threads))
                if label in ("sqlite full", "redis"):
                    rows.extend(bench_store(label, url, p, args.reports) for p in args.procs if p > 1)

    print_table(f"Scheduler reports (medloc, one group of G={G} per report, fresh request_id)", rows)
    data = {"reports_per_process": args.reports, "group_size": G, "rows": rows}
    write_json("schedulers", data)
    return data


if __name__ == "__main__":
    main()

"""Does the socket traffic between requests slow the app's own work? The app timed with and without it.

Under wrk the server spends more CPU per 256-item box batch than the same app called in a loop in
one process, while cachegrind counts about the same instructions for both (`bench_instructions`):
the same work runs slower in the server. This tests one cause: between two requests the server's
core also runs the kernel's loopback path (the 42 kB response out, the next 20 kB body in), which
may leave the caches colder for the request after.

The app (its middleware stack, fast path and scorer, as `bench_instructions` calls it, pinned to
one core) handles the box batch in rounds that alternate two ways: back to back, and with a
loopback exchange of the response's and the body's sizes with a peer process on the other core
between two requests. Only the app call is timed, never the exchange. Per round the median of
its requests; the table gives the medians over rounds and the median of the rounds' ratios.
Prints the table and writes ``bench/results/loopback.json``. Run:
``.venv/bin/python -m bench.bench_loopback [--rounds 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from bench.bench_instructions import _body, _post
from bench.report import print_table, write_json

REQUESTS_PER_ROUND = 200
# The peer: reads one response's worth, answers one body's worth, as a load generator would.
PEER = """
import os, socket, sys
os.sched_setaffinity(0, {int(sys.argv[2])})
s = socket.socket(fileno=int(sys.argv[1]))
out, back = int(sys.argv[3]), bytes(int(sys.argv[4]))
while True:
    got = 0
    while got < out:
        data = s.recv(1 << 16)
        if not data:
            sys.exit()
        got += len(data)
    s.sendall(back)
"""


async def measure(rounds: int) -> dict[str, list[float]]:
    """Per way, each round's median µs per app call."""
    from app.main import create_app
    from app.settings import Settings

    allowed = os.sched_getaffinity(0)
    cores = sorted(allowed)
    with tempfile.TemporaryDirectory(prefix="medreward-loopback-") as tmp:
        # The app's own store, not a medreward.db in the working directory.
        app = create_app(Settings(store_url=f"sqlite:///{tmp}/loopback.db", load_models=False))
        os.sched_setaffinity(0, {cores[0]})
        try:
            return await _measure_pinned(app, _body("batch"), cores[-1], rounds)
        finally:
            os.sched_setaffinity(0, allowed)  # the caller's process (a test run) gets its cores back


async def _measure_pinned(app: Any, body: bytes, peer_core: int, rounds: int) -> dict[str, list[float]]:
    import scorers

    mine, theirs = socket.socketpair()
    async with app.router.lifespan_context(app):
        stack = app.build_middleware_stack()
        scorers.freeze_heap()
        response = sum(len(m.get("body", b"")) for m in await _post(stack, app, body))
        peer = subprocess.Popen(
            [sys.executable, "-c", PEER, str(theirs.fileno()), str(peer_core), str(response), str(len(body))],
            pass_fds=[theirs.fileno()],
        )
        out = bytes(response)
        try:
            for _ in range(50):
                await _post(stack, app, body)
            spent: dict[str, list[float]] = {"back to back": [], "loopback exchange between": []}
            for _ in range(rounds):
                for way, calls in spent.items():
                    times = []
                    for _ in range(REQUESTS_PER_ROUND):
                        if way != "back to back":
                            mine.sendall(out)
                            got = 0
                            while got < len(body):
                                got += len(mine.recv(1 << 16))
                        start = time.perf_counter()
                        await _post(stack, app, body)
                        times.append(time.perf_counter() - start)
                    calls.append(statistics.median(times) * 1e6)
        finally:
            peer.kill()
            peer.wait()
            mine.close()
            theirs.close()
    return spent


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds of 200 requests each way")
    args = parser.parse_args(list(argv) if argv is not None else None)
    spent = asyncio.run(measure(args.rounds))
    base = spent["back to back"]
    ratios = [b / a for a, b in zip(base, spent["loopback exchange between"], strict=True)]
    rows = [
        {
            "way": way,
            "µs per app call (median of rounds)": statistics.median(calls),
            "rounds": [round(c) for c in calls],
        }
        for way, calls in spent.items()
    ]
    print_table(f"the app's own time per 256-item box batch, {args.rounds} alternating rounds", rows)
    ratio = statistics.median(ratios)
    spread = f"{min(ratios):.3f}-{max(ratios):.3f}"
    print(f"  with a loopback exchange between requests / back to back: {ratio:.3f} (rounds {spread})")
    write_json("loopback", {"rounds": args.rounds, "rows": rows, "slowdown": ratio, "round ratios": ratios})


if __name__ == "__main__":
    main()

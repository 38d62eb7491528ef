"""What a trainer waits for: one 256-item box batch scored through the client library, end to end.

The load benchmark measures the server; a trainer calling the service also pays for its own side
of each call (checking and encoding the batch, reading the answer). This starts a real
``medreward serve`` (one worker) and, in alternating rounds, scores the same 256 box items:

- in-process, ``scorers.score`` on item dicts (the baseline: a trainer scoring in its own process);
- by a plain httpx call, as a hand-written reward function would make it (``json=`` body,
  ``response.json()``);
- by ``MedRewardClient`` asking for JSON (``msgpack=False``), and as it is by default
  (MessagePack answers);

each with every item's details and with ``details: false``. One call at a time, so the figure is a
call's latency: the trainer's step waits for it. Per way: milliseconds per call and items/s (medians
over rounds), the calling process's CPU per call, and the ratio to in-process scoring measured
in the same rounds. Prints the table and writes ``bench/results/client.json``.
Run: ``.venv/bin/python -m bench.bench_client [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.bench_load import batch_items, medreward_cmd, server
from bench.heap import frozen_heap
from bench.report import print_table, write_json

ROUND_SECONDS = 1.0


def timed(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    """(wall ms, CPU ms) per call of ``fn``, over ``seconds`` after one warm-up call."""
    fn()
    wall, cpu, calls = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - wall < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - wall) * 1e3 / calls, (time.process_time() - cpu) * 1e3 / calls


def ways(url: str) -> tuple[dict[str, Callable[[], object]], list[Any]]:
    """Label → one scoring call of the batch, and what must be closed afterwards."""
    import scorers
    from trainer import MedRewardClient

    items = batch_items()
    params = scorers.get_reward("iou").params()
    plain = httpx.Client(base_url=url, timeout=60)
    as_json, as_msgpack = MedRewardClient(url, msgpack=False), MedRewardClient(url)
    out: dict[str, Callable[[], object]] = {"in-process scorers.score": lambda: scorers.score("iou", items, params)}
    for details in (True, False):
        suffix = "" if details else ", details: false"
        body: dict[str, Any] = {"items": items} if details else {"items": items, "details": False}
        out[f"plain httpx, JSON{suffix}"] = partial(_plain_call, plain, body)
        out[f"MedRewardClient, JSON{suffix}"] = partial(as_json.reward, "iou", items, details=details)
        out[f"MedRewardClient, MessagePack{suffix}"] = partial(as_msgpack.reward, "iou", items, details=details)
    return out, [plain, as_json, as_msgpack]


def check_same_rewards(calls: dict[str, Callable[[], object]]) -> None:
    """Every way scores the batch alike: the table compares the same work."""
    expected = None
    for label, call in calls.items():
        out: Any = call()
        if isinstance(out, list):  # scorers.score's Scores
            got = [s.reward for s in out]
        elif isinstance(out, dict):  # the plain call's JSON
            got = out["rewards"]
        else:  # the client's RewardResult
            got = list(out.rewards)
        if expected is not None and got != expected:
            raise RuntimeError(f"{label} scored the batch differently")
        expected = got


def _plain_call(client: httpx.Client, body: dict[str, Any]) -> Any:
    response = client.post("/v1/rewards/iou", json=body)
    response.raise_for_status()
    return response.json()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (each way ~1 s per round)")
    parser.add_argument("--seconds", type=float, default=ROUND_SECONDS, help="seconds per way per round")
    args = parser.parse_args(list(argv) if argv is not None else None)
    n = len(batch_items())
    workdir = Path(tempfile.mkdtemp(prefix="medreward-client-"))
    env = {
        "MEDREWARD_LOAD_MODELS": "false",
        "MEDREWARD_LOG_LEVEL": "warning",
        "MEDREWARD_STORE_URL": f"sqlite:///{workdir}/client.db",
    }
    samples: dict[str, list[tuple[float, float, float]]] = {}
    with server(medreward_cmd(1), env, workdir) as srv:
        calls, to_close = ways(srv.url)
        check_same_rewards(calls)
        try:
            with frozen_heap():  # as README advises a trainer scoring in its own process
                for i in range(args.rounds):
                    order = list(calls) if i % 2 == 0 else list(reversed(calls))  # none always first
                    measured = {label: timed(calls[label], args.seconds) for label in order}
                    base = measured["in-process scorers.score"][0]
                    for label, (wall, cpu) in measured.items():
                        samples.setdefault(label, []).append((wall, cpu, base / wall))
        finally:
            for c in to_close:
                c.close()
    rows = [
        {
            "way": label,
            "ms per call": statistics.median(s[0] for s in got),
            "items/s": n * 1e3 / statistics.median(s[0] for s in got),
            "caller CPU ms per call": statistics.median(s[1] for s in got),
            "in-process / this (wall)": statistics.median(s[2] for s in got),
            "rounds": [round(s[2], 3) for s in got],
        }
        for label, got in samples.items()
    ]
    print_table(f"one {n}-item box batch per call, one call at a time, medians of {args.rounds} rounds", rows)
    write_json("client", {"items per call": n, "rounds": args.rounds, "rows": rows})


if __name__ == "__main__":
    main()

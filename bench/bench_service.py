"""HTTP service throughput against the in-process cost of the same scorer, measured in one run.

Starts a real ``medreward serve`` (uvicorn, memory store, open on loopback) unless ``--url`` is
given, then measures:

- per-sample traffic, OpenRLHF-style: ``--requests`` POSTs of one completion each to
  ``/openrlhf/<profile>``, ``--concurrency`` in flight, a new connection per request (as
  OpenRLHF opens a new session per try);
- batch traffic, TRL-style: ``--repeats`` POSTs of ``--batch`` items to ``/v1/rewards/<reward>``;
- in-process: ``scorers.score(reward, items)`` on the same items.

Prints items/s, p50/p99 latency and the service/in-process ratio; writes ``bench/results/service.json``.

Run: ``.venv/bin/python -m bench.bench_service`` (``medreward bench service``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.report import print_table, time_per_call, write_json

ROOT = Path(__file__).resolve().parents[1]
PROMPT = (
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Box the nodule.<|im_end|>\n<|im_start|>assistant\n"
)


def items_for(reward: str, n: int) -> list[dict[str, Any]]:
    """Representative items: boxes for iou, closed answers otherwise."""
    out = []
    for i in range(n):
        if reward == "iou":
            x = 10 + i % 40
            out.append(
                {
                    "completion": f"<think>nodule near the apex</think><answer>[{x}, 20, {x + 60}, 90]</answer>",
                    "boxes": [[20, 20, 80, 90]],
                    "group": f"p{i // 8}",
                }
            )
        else:
            answer = "yes" if i % 3 else "no"
            out.append(
                {"completion": f"<think>visceral pleural line</think><answer>{answer}</answer>", "reference": "yes"}
            )
    return out


def label_of(item: dict[str, Any]) -> Any:
    """The OpenRLHF label carrying an item's fields."""
    return {k: v for k, v in item.items() if k not in ("completion", "group")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDREWARD_")}
    env.update({"MEDREWARD_LOAD_MODELS": "false", "MEDREWARD_LOG_LEVEL": "warning"})
    exe = Path(sys.executable).with_name("medreward")
    db = Path(tempfile.mkdtemp()) / "bench.db"
    cmd = [str(exe), "serve", "--port", str(port), "--workers", str(workers), "--store-url", f"sqlite:///{db}"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("medreward serve did not start")


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of the server process (Linux /proc), less sensitive to a shared machine than rates."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(latencies: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(latencies) * 1000.0
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


async def per_sample(url: str, profile: str, items: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=180, limits=limits) as client:

        async def one(item: dict[str, Any]) -> None:
            payload = {
                "query": [PROMPT + item["completion"] + "<|im_end|>"],
                "prompts": [PROMPT],
                "labels": [label_of(item)],
            }
            async with sem:
                start = time.perf_counter()
                resp = await client.post(f"/openrlhf/{profile}", json=payload)
                latencies.append(time.perf_counter() - start)
            resp.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one(it) for it in items))
        wall = time.perf_counter() - start
    p50, p99 = percentiles(latencies)
    return {"requests": len(items), "items": len(items), "seconds": wall, "p50_ms": p50, "p99_ms": p99}


async def healthz_floor(url: str, requests: int, concurrency: int) -> float:
    """Requests/s of ``GET /healthz`` with the same concurrency and a new connection per request:
    what the HTTP stack alone costs on this machine, with the load generator on the same cores."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=180, limits=limits) as client:

        async def one() -> None:
            async with sem:
                (await client.get("/healthz")).raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return requests / (time.perf_counter() - start)


def batch(url: str, reward: str, items: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    latencies = []
    with httpx.Client(base_url=url, timeout=180) as client:
        client.post(f"/v1/rewards/{reward}", json={"items": items}).raise_for_status()  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            t0 = time.perf_counter()
            client.post(f"/v1/rewards/{reward}", json={"items": items}).raise_for_status()
            latencies.append(time.perf_counter() - t0)
        wall = time.perf_counter() - start
    p50, p99 = percentiles(latencies)
    return {"requests": repeats, "items": repeats * len(items), "seconds": wall, "p50_ms": p50, "p99_ms": p99}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reward", default="iou", help="reward to measure (default iou)")
    parser.add_argument("--requests", type=int, default=512, help="per-sample requests")
    parser.add_argument("--concurrency", type=int, default=128, help="per-sample requests in flight")
    parser.add_argument("--batch", type=int, default=256, help="items per batch POST")
    parser.add_argument("--repeats", type=int, default=20, help="batch POSTs")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the spawned server")
    parser.add_argument("--url", default=None, help="measure a running server instead (open mode)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    import scorers

    reward = args.reward
    batch_items = items_for(reward, args.batch)
    sample_items = items_for(reward, args.requests)
    # In-process: the same scorer on the same items, per item, batched and one at a time.
    spec = scorers.get_reward(reward)
    params = spec.params()
    parsed = scorers.registry.as_items(batch_items)
    per_item_batch = time_per_call(lambda: scorers.score(reward, parsed, params), repeat=3) / len(parsed)
    per_item_single = time_per_call(lambda: scorers.score(reward, parsed[:1], params), repeat=3)

    proc, url = (None, args.url) if args.url else start_server(args.workers)
    try:
        profile = f"bench-{reward}"
        httpx.put(f"{url}/v1/profiles/{profile}", json={"components": [{"reward": reward}]}).raise_for_status()
        pid = proc.pid if proc is not None and args.workers == 1 else None
        cpu0 = cpu_seconds(pid)
        sample = asyncio.run(per_sample(url, profile, sample_items, args.concurrency))
        cpu1 = cpu_seconds(pid)
        batched = batch(url, reward, batch_items, args.repeats)
        cpu2 = cpu_seconds(pid)
        if cpu0 is not None and cpu1 is not None and cpu2 is not None:
            sample["server_cpu_ms_per_item"] = (cpu1 - cpu0) * 1000 / sample["items"]
            # The batch phase includes one warm-up POST.
            batched["server_cpu_ms_per_item"] = (cpu2 - cpu1) * 1000 / (batched["items"] + len(batch_items))
        floor = asyncio.run(healthz_floor(url, args.requests, args.concurrency))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)

    rows = []
    for name, res, conc, per_item in (
        (f"per-sample /openrlhf ({args.concurrency} in flight)", sample, args.concurrency, per_item_single),
        (f"batch /v1/rewards ({args.batch} items/POST)", batched, 1, per_item_batch),
    ):
        http_rate = res["items"] / res["seconds"]
        inproc_rate = 1.0 / per_item
        rows.append(
            {
                "traffic": name,
                "requests": res["requests"],
                "items/s http": http_rate,
                "p50 ms": res["p50_ms"],
                "p99 ms": res["p99_ms"],
                "items/s in-process": inproc_rate,
                "in-process/http": inproc_rate / http_rate,
                "server CPU ms/item": res.get("server_cpu_ms_per_item"),
                "in-process ms/item": per_item * 1000,
                "concurrency": conc,
            }
        )
    print_table(f"medreward service vs in-process scorers.score ({reward})", rows)
    print(
        f"HTTP floor: GET /healthz at {args.concurrency} in flight, a new connection each: {floor:,.0f} req/s "
        f"(per-sample scoring reaches {rows[0]['items/s http'] / floor:.0%} of it)"
    )
    write_json(
        "service",
        {
            "reward": reward,
            "workers": args.workers,
            "rows": rows,
            "healthz_floor_req_per_s": floor,
            "note": "per-sample opens a new connection per request, as OpenRLHF does; in-process per-sample is "
            "scorers.score on one item, batch is per item of a 256-item batch",
        },
    )


if __name__ == "__main__":
    main()

"""Instructions per item of a 256-item box batch, over HTTP and in-process, counted by valgrind.

On the shared 2-core machines a core's speed moves by up to 2x from one minute to the next, and
an A/B of two servers by wall clock needs many rounds to see a 2% change. Instructions do not
move: cachegrind counts them the same within 0.1% from run to run. Each way below runs the batch
``--calls`` times in two processes (e.g. 20 and 120 calls) under ``valgrind --tool=cachegrind``,
and the difference of their totals over the difference of their items is the cost per item, with
start-up and warm-up cancelled out:

- ``in-process``: ``scorers.score("iou", dicts)``, as the load benchmark's in-process baseline;
- four stages of the app's work on the plain body, each with the ones before it: ``decode``
  (msgspec, into records checked against the limits), ``decode + score`` (``scorers.score`` on
  those records), ``decode + score + response`` (the JSON response with every item's details),
  ``decode + route function`` (the route's own checks, metrics and response around the scoring);
- ``app``: the body through the app's ASGI middleware stack in this process (fast path, decode,
  limits, scoring, response), no server and no socket;
- ``app (details: false)``: the same with the client library's body;
- ``server``: a real uvicorn process, the body over two keep-alive connections from a plain
  socket client, as wrk sends it.

Instructions are not time: ``server`` against ``app`` says what uvicorn and the sockets add in
work; what the load benchmark's wall-clock ratio loses beyond that is the server's instructions
running slower (kernel work and a far larger code path per request than the in-process loop).
Needs ``valgrind`` (``apt-get install -y valgrind``); about 7 minutes on two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.bench_load import BATCH, BATCH_LEAN, batch_bodies, batch_items
from bench.report import print_table, write_json
from deploy.replicas import find_tool, free_port

ROOT = Path(__file__).resolve().parents[1]
# Stages of the app's work on the plain body, each with the ones before it: where the app's
# instructions beyond the in-process loop go (the last stage plus the middleware is `app`).
STAGES = ("decode", "decode + score", "decode + score + response", "decode + route function")
WAYS = ("in-process", *STAGES, "app", "app (details: false)", "server")
WARM_CALLS = 3
SERVER_CONNECTIONS = 2
# Fixed hashing and one BLAS thread: an idle OpenBLAS thread's spinning is counted too, at
# whatever length valgrind's scheduling gives it.
COUNTING_ENV = {"PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "MEDREWARD_LOAD_MODELS": "false"}


def _body(way: str) -> bytes:
    return json.dumps(batch_bodies()[BATCH_LEAN if way == "app (details: false)" else BATCH]).encode()


def run_harness(way: str, calls: int) -> None:
    """The measured loop, in this process: ``WARM_CALLS`` then ``calls`` batches one way."""
    import scorers

    if way == "in-process":
        items, params = batch_items(), scorers.get_reward("iou").params()
        scorers.freeze_heap()
        for _ in range(WARM_CALLS + calls):
            scorers.score("iou", items, params)
        return
    from app.main import create_app

    app = create_app()
    body = _body(way)
    if way in STAGES:
        asyncio.run(_run_stages(app, way, body, calls))
        return

    async def main() -> None:
        async with app.router.lifespan_context(app):
            stack = app.build_middleware_stack()
            scorers.freeze_heap()  # as the server does once it has started
            for _ in range(WARM_CALLS + calls):
                await _post(stack, app, body)

    asyncio.run(main())


async def _run_stages(app: Any, way: str, body: bytes, calls: int) -> None:
    """One of `STAGES`, called as the fast path calls it (collector paused, the lifespan's state)."""
    import scorers
    from app.api.deps import Service
    from scorers.gc_pause import collector_paused

    async with app.router.lifespan_context(app):
        st = app.state
        svc = Service(st.settings, st.store, st.profiles, st.group_buffer, "bench")
        params = scorers.get_reward("iou").params()
        scorers.freeze_heap()
        for _ in range(WARM_CALLS + calls):
            with collector_paused():  # and what the stage made is freed inside the pause, as there
                _stage(way, body, svc, params)


def _stage(way: str, body: bytes, svc: Any, params: Any) -> None:
    import scorers
    from app.api.routes.rewards import reward_response, score_reward
    from app.lean_requests import plain_reward_request

    request = plain_reward_request(body, svc.settings)
    if request is None:
        raise RuntimeError("the lean decoder refused the benchmark's body")
    if way == "decode + route function":
        score_reward("iou", request, svc)
    elif way != "decode":
        scores = scorers.score("iou", request.items, params)
        if way == "decode + score + response":
            reward_response(scores, None)


async def _post(stack: Any, app: Any, body: bytes) -> list[dict[str, Any]]:
    """The box batch through ``stack`` as a server would hand it over; the messages it sent back."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/rewards/iou",
        "raw_path": b"/v1/rewards/iou",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "app": app,
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await stack(scope, receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"the app answered {sent[0]['status']}: {sent[-1].get('body', b'')[:300]!r}")
    return sent


def _valgrind(argv: list[str], env: dict[str, str], out: Path) -> list[str]:
    return [
        find_tool("valgrind", "valgrind"),
        "--tool=cachegrind",
        "--cache-sim=no",
        f"--cachegrind-out-file={out}",
        f"--log-file={out}.log",
        *argv,
    ]


def _instructions(out: Path) -> int:
    """The total instruction count in a cachegrind output file."""
    match = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no summary in {out} (valgrind's log: {out}.log)")
    return int(match.group(1))


def harness_env(db: Path) -> dict[str, str]:
    """A counted process's environment: no caller's MEDREWARD_ settings, a store of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDREWARD_")} | COUNTING_ENV
    return env | {"MEDREWARD_STORE_URL": f"sqlite:///{db}", "PYTHONPATH": str(ROOT)}


def harness_argv(way: str, calls: int) -> list[str]:
    """The command of a process that makes ``calls`` calls one way (`run_harness`)."""
    return [sys.executable, "-m", "bench.bench_instructions", "--harness", way, str(calls)]


def count(way: str, calls: int, workdir: Path) -> int:
    """Instructions of one process that makes ``calls`` calls (after the warm-up) one way."""
    out = workdir / f"{way.replace(' ', '_').replace(',', '').replace(':', '')}-{calls}.cg"
    env = harness_env(workdir / f"{out.stem}.db")
    if way != "server":
        subprocess.run(_valgrind(harness_argv(way, calls), env, out), env=env, cwd=ROOT, check=True)
        return _instructions(out)
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(_valgrind([*argv, "--no-access-log"], env, out), env=env, cwd=ROOT)
    try:
        conns = _connect(port, server)
        request = _request(_body(way))
        for _ in range(WARM_CALLS + calls):
            for c in conns:  # both connections busy, as under wrk: a request waits while one is served
                c.sendall(request)
            for c in conns:
                _read_response(c)
        for c in conns:
            c.close()
    finally:
        server.terminate()
        server.wait(300)
    return _instructions(out)


def _connect(port: int, server: subprocess.Popen[bytes]) -> list[socket.socket]:
    conns: list[socket.socket] = []
    for _ in range(1200):  # start-up under valgrind takes a minute or so
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            conns.append(socket.create_connection(("127.0.0.1", port)))
            break
        except OSError:
            time.sleep(0.25)
    if not conns:
        raise RuntimeError("the server under valgrind did not start listening in 5 minutes")
    conns += [socket.create_connection(("127.0.0.1", port)) for _ in range(SERVER_CONNECTIONS - 1)]
    return conns


def _request(body: bytes) -> bytes:
    head = (
        "POST /v1/rewards/iou HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _read_response(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"the server answered {head[:200]!r}")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    while len(rest) < length:
        rest += conn.recv(1 << 16)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="20,120", help="the two call counts whose difference is measured")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated, of: {', '.join(WAYS)}")
    parser.add_argument("--json", default="instructions", help="results file name under bench/results/")
    parser.add_argument("--harness", nargs=2, metavar=("WAY", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.harness:
        run_harness(args.harness[0], int(args.harness[1]))
        return
    low, high = (int(c) for c in args.calls.split(","))
    ways = args.ways.split(",")
    unknown = set(ways) - set(WAYS)
    if unknown or high <= low:
        parser.error(f"unknown ways {sorted(unknown)}" if unknown else "--calls needs two counts, the second larger")
    n_items = len(batch_items())
    workdir = Path(tempfile.mkdtemp(prefix="medreward-instructions-"))
    rows: list[dict[str, Any]] = []
    with ThreadPoolExecutor(2) as pool:  # each way's two processes side by side, one per core
        for way in ways:
            lo, hi = pool.map(count, (way, way), (low, high), (workdir, workdir))
            # The server serves SERVER_CONNECTIONS batches per call.
            batches = (high - low) * (SERVER_CONNECTIONS if way == "server" else 1)
            rows.append({"way": way, "instructions/item": round((hi - lo) / (batches * n_items))})
            print(f"  {way:<26} {rows[-1]['instructions/item']:>8,} instructions per item", flush=True)
    base = next((r["instructions/item"] for r in rows if r["way"] == "in-process"), None)
    for r in rows:
        r["in-process / this"] = round(base / r["instructions/item"], 3) if base else None
    print_table("256-item box batch, instructions per item (cachegrind)", rows)
    write_json(args.json, {"calls": [low, high], "items per batch": n_items, "rows": rows})


if __name__ == "__main__":
    main()

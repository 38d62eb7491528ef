"""Load benchmark: the real server under wrk, against a minimal FastAPI endpoint and in-process scoring.

Every server is a real ``uvicorn`` process (``medreward serve``, or ``uvicorn bench.minimal_app:app``
for the baseline) driven by ``wrk`` from a separate process, one item per POST over 64 keep-alive
connections (per-sample traffic), or 256 items per POST (batch traffic). Rows:

- per-sample ``POST /v1/rewards/iou``: medreward vs the minimal FastAPI + pydantic endpoint around
  the same scorer, at 1 and 2 workers;
- per-sample with a run and ``group_size`` 8 (the group buffer in the store): SQLite and Redis,
  1 and 2 workers;
- batch of 256 over HTTP (two connections per worker, at 1 and 2 workers) vs ``scorers.score``
  in-process on one core: on item dicts, as a trainer calls it (the items are decoded on each call),
  and on the same items decoded beforehand (records, `Item` models); wrk and the in-process calls
  take turns every ~0.1 s (`bench.interleave`), so both meet the machine at the same speed. Three
  requests: a plain body (every item's details in the response, JSON); the same asking for the
  response in MessagePack (``Accept: application/msgpack``); and the request the client library
  sends for a trainer that reads rewards only (its TRL, verl and AReaL adapters): its body
  (``details: false``, with its request id) and its ``Accept`` header (MessagePack, JSON second).

Prints the table and writes ``bench/results/load.json``. Needs ``wrk`` (apt-get install wrk) and,
for the Redis rows, ``redis-server``. Run: ``.venv/bin/python -m bench.bench_load [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.heap import frozen_heap
from bench.interleave import Calls, interleave
from bench.report import print_table, write_json
from deploy.replicas import find_tool, free_port, wait_http
from trainer.retry import ACCEPT_MSGPACK

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 64
BOX_ITEM = {
    "completion": "<think>nodule near the apex</think><answer>[24, 20, 84, 90]</answer>",
    "boxes": [[20, 20, 80, 90]],
}

# wrk's summary as one JSON line (latencies in µs), printed by the script's done() hook.
DONE_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\nWRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
"""

STATIC_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""

# Per-sample traffic into a run: each thread walks its own groups, 8 samples each, each with a request id.
GROUPED_LUA = r"""
local counter = 0
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
request = function()
  counter = counter + 1
  local group = string.format("t%d-p%d", tid or 0, math.floor(counter / 8))
  local body = string.format('{"items": [{"completion": %s, "boxes": [[20, 20, 80, 90]], "group": "%s"}], '
    .. '"run_id": "load", "group_size": 8, "request_id": "%s-%d"}', COMPLETION, group, group, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn's workers), from /proc."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return total


def wait_settled(pid: int, timeout: float = 60.0, quiet_s: float = 0.5) -> None:
    """Until the server's processes use under 5% of a core over ``quiet_s``: with several workers
    the first answers while the others are still starting, and their start-up would be counted
    in the first row's CPU and compete with its load."""
    deadline = time.monotonic() + timeout
    last = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = tree_cpu_seconds(pid)
        if now - last < 0.05 * quiet_s:
            return
        last = now
    raise RuntimeError(f"server {pid} still busy {timeout:g} s after it answered")


@dataclass
class Running:
    url: str
    pid: int


@contextmanager
def server(cmd: list[str], env: dict[str, str], workdir: Path) -> Iterator[Running]:
    port = free_port()
    log = workdir / f"server-{port}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MEDREWARD_")} | env
    full_env["PYTHONPATH"] = str(ROOT)
    with log.open("wb") as out:
        proc = subprocess.Popen([*cmd, "--port", str(port)], env=full_env, cwd=ROOT, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/openapi.json", proc, 90, " ".join(cmd[:2]), log)
        wait_settled(proc.pid)
        yield Running(url, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def medreward_cmd(workers: int) -> list[str]:
    return [str(Path(sys.executable).with_name("medreward")), "serve", "--workers", str(workers)]


def minimal_cmd(workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.minimal_app:app",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def run_wrk(
    srv: Running, path: str, script: str, seconds: float, connections: int, workdir: Path, warm_up: bool = True
) -> dict[str, Any]:
    """One wrk run (1 thread: the load generator shares these cores); after a 2 s warm-up run (unless told not to).

    Besides the rates, the server's CPU seconds per request: on a shared machine the rate moves with
    the neighbours' load, the CPU a request costs much less.
    """
    url = srv.url
    base = wrk_argv(script, connections, workdir / "script.lua")
    if warm_up:
        subprocess.run([*base, "-d2s", url + path], capture_output=True, check=True)
    cpu0 = tree_cpu_seconds(srv.pid)
    out = subprocess.run([*base, f"-d{seconds:g}s", url + path], capture_output=True, text=True, check=True).stdout
    cpu = tree_cpu_seconds(srv.pid) - cpu0
    res, errors = wrk_summary(out)
    return {
        "req/s": res["requests"] / (res["duration_us"] / 1e6),
        "p50 ms": res["p50_us"] / 1000,
        "p99 ms": res["p99_us"] / 1000,
        "server CPU µs/req": cpu * 1e6 / max(res["requests"], 1),
        # How many cores' worth of CPU the server got: ~1 at one worker means it was CPU-bound;
        # the same at two workers means the second found no free core (wrk and neighbours had it).
        "server cores": cpu / (res["duration_us"] / 1e6),
        "requests": res["requests"],
        "errors": errors,
    }


def wrk_argv(script: str, connections: int, lua: Path) -> list[str]:
    """wrk's command line, one thread, with ``script`` (and the summary hook) written to ``lua``;
    the duration and URL are the caller's."""
    lua.write_text(script + DONE_LUA)
    return [find_tool("wrk", "wrk"), "-t1", f"-c{connections}", "--latency", "--timeout", "30s", "-s", str(lua)]


def wrk_summary(out: str) -> tuple[dict[str, Any], int]:
    """The summary line `DONE_LUA` printed, and its errors of every kind added up."""
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out[-500:]!r}")
    res: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    return res, sum(res[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx"))


def static_script(body: dict[str, Any], accept: str | None = None) -> str:
    script = STATIC_LUA.format(body=json.dumps(json.dumps(body)))
    return script + (f'wrk.headers["Accept"] = {json.dumps(accept)}\n' if accept else "")


def grouped_script() -> str:
    return f"local COMPLETION = {json.dumps(json.dumps(BOX_ITEM['completion']))}\n" + GROUPED_LUA


@contextmanager
def redis_url(workdir: Path) -> Iterator[str]:
    from tests.schedulers.redis_server import running_redis

    with running_redis(workdir, appendonly=True) as url:
        yield url


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="wrk seconds per row (a batch row splits them over its rounds)"
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to measure")
    parser.add_argument("--quick", action="store_true", help="only per-sample and batch at 1 worker, 3 s rows")
    parser.add_argument(
        "--rows",
        default="per-sample,grouped,batch",
        help="which rows to run (comma-separated): per-sample, grouped (group_size 8), batch",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    which = set(args.rows.split(","))
    if args.quick:
        which.discard("grouped")
    seconds = 3.0 if args.quick else args.seconds
    worker_counts = [1] if args.quick else [int(w) for w in args.workers.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="medreward-load-"))
    env = {"MEDREWARD_LOAD_MODELS": "false", "MEDREWARD_LOG_LEVEL": "warning"}
    rows: list[dict[str, Any]] = []

    def row(traffic: str, server_name: str, workers: int, store: str, res: dict[str, Any], **extra: Any) -> None:
        rows.append({"traffic": traffic, "server": server_name, "workers": workers, "store": store, **res, **extra})
        print(
            f"  {traffic:<28} {server_name:<18} w={workers} {store:<7} {res['req/s']:>9,.0f} req/s "
            f"p50 {res['p50 ms']:.2f} ms p99 {res['p99 ms']:.2f} ms CPU {res['server CPU µs/req']:.0f} µs/req "
            f"on {res['server cores']:.2f} cores "
            f"errors {res['errors']}",
            flush=True,
        )

    one = static_script({"items": [BOX_ITEM]})
    for w in worker_counts if "per-sample" in which else []:
        db_env = env | {"MEDREWARD_STORE_URL": f"sqlite:///{workdir}/w{w}.db"}
        with server(medreward_cmd(w), db_env, workdir) as url:
            row(
                "per-sample iou",
                "medreward",
                w,
                "-",
                run_wrk(url, "/v1/rewards/iou", one, seconds, CONNECTIONS, workdir),
            )
        with server(minimal_cmd(w), {}, workdir) as url:
            row(
                "per-sample iou",
                "minimal FastAPI",
                w,
                "-",
                run_wrk(url, "/v1/rewards/iou", one, seconds, CONNECTIONS, workdir),
            )

    if "grouped" in which:
        for store in ("sqlite", "redis"):
            for w in worker_counts:
                with _store_url(store, workdir, w) as store_url:
                    with server(medreward_cmd(w), env | {"MEDREWARD_STORE_URL": store_url}, workdir) as srv:
                        import httpx

                        made = httpx.post(f"{srv.url}/v1/runs", json={"run_id": "load", "scheduler": "medloc"})
                        made.raise_for_status()
                        res = run_wrk(srv, "/v1/rewards/iou", grouped_script(), seconds, CONNECTIONS, workdir)
                        run = httpx.get(f"{srv.url}/v1/runs/load").json()
                    row("per-sample iou, group_size 8", "medreward", w, store, res, groups=run["groups"])

    if "batch" in which:
        for w in worker_counts:
            for traffic, (res, extra) in batch_rows(env, seconds, workdir, w).items():
                row(traffic, "medreward", w, "-", res, **extra)

    by = {(r["traffic"], r["server"], r["workers"]): r for r in rows}
    ratios = {}
    for w in worker_counts:
        mine, base = by.get(("per-sample iou", "medreward", w)), by.get(("per-sample iou", "minimal FastAPI", w))
        if mine and base:
            ratios[f"per-sample vs minimal FastAPI, {w} worker(s)"] = mine["req/s"] / base["req/s"]
            ratios[f"per-sample server CPU per request, minimal FastAPI / medreward, {w} worker(s)"] = (
                base["server CPU µs/req"] / mine["server CPU µs/req"]
            )
    for traffic, w in ((t, w) for t in BATCH_TRAFFIC for w in worker_counts):
        batch_w = by.get((traffic, "medreward", w))
        for label in IN_PROCESS if batch_w else ():
            assert batch_w is not None
            # One in-process core against w server workers: the target is the one-worker ratio.
            ratios[f"{traffic} http ({w} worker(s)) vs in-process ({label})"] = batch_w[f"vs in-process {label}"]
            if w == 1:
                ratios[f"{traffic} CPU per item, in-process ({label}) / over HTTP"] = batch_w[
                    f"CPU vs in-process {label}"
                ]
    batch = by.get((BATCH, "medreward", worker_counts[0]))
    if ("per-sample iou", "medreward", 2) in by and ("per-sample iou", "medreward", 1) in by:
        ratios["per-sample 2 workers / 1 worker"] = (
            by[("per-sample iou", "medreward", 2)]["req/s"] / by[("per-sample iou", "medreward", 1)]["req/s"]
        )
    print_table(f"medreward under wrk ({CONNECTIONS} keep-alive connections per-sample, {seconds:g} s per row)", rows)
    if batch:  # its own columns, which the table (keyed by the first row) leaves out
        for traffic, w in ((t, w) for t in BATCH_TRAFFIC for w in worker_counts):
            b = by[(traffic, "medreward", w)]
            print(
                f"  {traffic}, {w} worker(s): {b['items/s']:,.0f} items/s over HTTP, "
                f"{b['server CPU µs/item']:.2f} µs CPU/item"
            )
        for label in IN_PROCESS:
            print(
                f"  in-process ({label}): {batch[f'in-process {label} items/s']:,.0f} items/s, "
                f"{batch[f'in-process {label} CPU µs/item']:.2f} µs CPU/item"
            )
    for name, value in ratios.items():
        print(f"  {name}: {value:.2f}x")
    # A partial run (--rows, --workers, --quick) must not overwrite the full table's results.
    full = which == {"per-sample", "grouped", "batch"} and worker_counts == [1, 2]
    write_json(
        "load" if full else "load-partial",
        {"seconds": seconds, "connections": CONNECTIONS, "rows": rows, "ratios": ratios},
    )
    shutil.rmtree(workdir, ignore_errors=True)


# The in-process baselines of the batch row: what a trainer scoring in its own process calls
# (item dicts, decoded and validated by `scorers.score` on each call: completions are new every
# step), and the scorer alone on items decoded beforehand, as records and as `Item` models.
IN_PROCESS = ("dicts", "records", "Item models")
# Each body's interleaved measurement (`bench.interleave`) runs in this many blocks, the bodies
# taking turns, so that every body meets the same stretch of the machine's time; the blocks'
# own ratios show the spread.
BATCH_ROUNDS = 5


def in_process_ways() -> dict[str, Callable[[], object]]:
    """Per way of `IN_PROCESS`: one call of `scorers.score` on the 256-item box batch."""
    import scorers

    batch = batch_items()
    inputs: dict[str, Any] = {
        "dicts": batch,
        "records": scorers.registry.as_items(batch),
        "Item models": [scorers.Item.model_validate(d) for d in batch],
    }
    params = scorers.get_reward("iou").params()
    return {label: partial(scorers.score, "iou", inputs[label], params) for label in IN_PROCESS}


def batch_items() -> list[dict[str, Any]]:
    return [dict(BOX_ITEM, boxes=[[20 + i % 7, 20, 80, 90]]) for i in range(256)]


def batch_bodies() -> dict[str, dict[str, Any]]:
    """The batch rows' traffic label → request body: a plain body, and the one the client library
    sends for a trainer that reads the rewards only (its TRL, verl and AReaL adapters; sent with
    the client's ``Accept``, `BATCH_ACCEPT`)."""
    from trainer.routes import Routes

    routes = Routes(None, None, timeout=30.0, max_retries=0, backoff=0.0, max_batch=1024, deadline=None)
    client_body = routes._reward("iou", batch_items(), None, None, None, None, None, details=False).calls[0].body
    assert client_body is not None and client_body.get("details") is False
    assert routes._headers()["Accept"] == BATCH_ACCEPT[BATCH_LEAN]
    return {BATCH: {"items": batch_items()}, BATCH_LEAN: client_body, BATCH_MSGPACK: {"items": batch_items()}}


BATCH = "batch 256 iou"
BATCH_LEAN = "batch 256 iou, client (details: false, MessagePack)"
BATCH_MSGPACK = "batch 256 iou, MessagePack"
BATCH_TRAFFIC = (BATCH, BATCH_LEAN, BATCH_MSGPACK)
# The Accept header each batch row sends (none: JSON); the client row's is the client library's own.
BATCH_ACCEPT = {BATCH_MSGPACK: "application/msgpack", BATCH_LEAN: ACCEPT_MSGPACK}


@dataclass
class _Block:
    """One body's interleaved block: the server's CPU and requests, and the in-process calls."""

    server_cpu_s: float
    requests: int
    errors: int
    calls: dict[str, Calls]


def batch_rows(
    env: dict[str, str], seconds: float, workdir: Path, workers: int
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Per body of `batch_bodies`: batches of 256 over HTTP (``workers`` workers, two connections
    each) against `in_process_ways`.

    Rate, latency and the cores the server gets come from an uninterrupted wrk run of a fifth of
    ``seconds``; the comparison from ``seconds`` of wrk interleaved with in-process calls
    (`bench.interleave`), in `BATCH_ROUNDS` blocks with the bodies taking turns. Each figure is
    the total over the blocks: CPU per item on both sides, and the throughput ratio
    ``server cores × in-process CPU per item / server CPU per item``.
    """
    bodies = batch_bodies()
    scripts = {label: static_script(body, BATCH_ACCEPT.get(label)) for label, body in bodies.items()}
    n = len(batch_items())
    db = f"sqlite:///{workdir}/b{workers}.db"
    plain: dict[str, dict[str, Any]] = {}
    blocks: dict[str, list[_Block]] = {label: [] for label in bodies}
    ways = in_process_ways()
    with server(medreward_cmd(workers), env | {"MEDREWARD_STORE_URL": db}, workdir) as srv:
        check_batch_answers(srv.url, bodies)
        per_run = max(1, round(seconds / 5))  # wrk takes whole seconds
        for i, label in enumerate(bodies):
            plain[label] = run_wrk(srv, "/v1/rewards/iou", scripts[label], per_run, 2 * workers, workdir, i == 0)
        with frozen_heap():  # as README advises a trainer scoring in its own process, and as the server does
            for i in range(BATCH_ROUNDS):
                # The bodies take turns going first, so that none always meets the same stretch of time.
                for label in list(bodies) if i % 2 == 0 else list(reversed(bodies)):
                    blocks[label].append(
                        interleaved_block(srv, scripts[label], 2 * workers, seconds / BATCH_ROUNDS, ways, workdir)
                    )
    return {label: _batch_figures(plain[label], blocks[label], n) for label in bodies}


def interleaved_block(
    srv: Running,
    script: str,
    connections: int,
    seconds: float,
    ways: dict[str, Callable[[], object]],
    workdir: Path,
) -> _Block:
    """wrk on ``script`` interleaved with ``ways`` for ``seconds``: the server's CPU over the
    block (its idle threads' included) and the requests wrk completed."""
    argv = wrk_argv(script, connections, workdir / "interleaved.lua")
    cpu0 = tree_cpu_seconds(srv.pid)
    # Stopped by SIGINT once the block is over (wrk then prints its summary): the duration only bounds it.
    load = subprocess.Popen(
        [*argv, f"-d{int(seconds) + 60}s", f"{srv.url}/v1/rewards/iou"], stdout=subprocess.PIPE, text=True
    )
    try:
        calls = interleave(load, ways, seconds)
    finally:
        load.send_signal(signal.SIGINT)
        out, _ = load.communicate(timeout=60)
    cpu = tree_cpu_seconds(srv.pid) - cpu0
    res, errors = wrk_summary(out)
    return _Block(cpu, res["requests"], errors, calls)


def _batch_figures(plain: dict[str, Any], blocks: list[_Block], n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A batch row's figures (the uninterrupted run's) and its extra columns: the interleaved
    comparison, totals over ``blocks``, and each block's own ratio (dicts)."""
    requests = sum(b.requests for b in blocks)
    server_us_item = sum(b.server_cpu_s for b in blocks) * 1e6 / (max(requests, 1) * n)
    cores = plain["server cores"]
    extra: dict[str, Any] = {
        "items/s": plain["req/s"] * n,
        "interleaved requests": requests,
        "server CPU µs/item": server_us_item,
    }
    for way in IN_PROCESS:
        calls = [b.calls[way] for b in blocks]
        total = Calls(sum(c.calls for c in calls), sum(c.cpu_s for c in calls), sum(c.wall_s for c in calls))
        in_us_item = total.cpu_us_per_call / n
        extra[f"in-process {way} calls"] = total.calls
        extra[f"in-process {way} CPU µs/item"] = in_us_item
        extra[f"in-process {way} items/s"] = total.calls * n / total.wall_s if total.wall_s else float("nan")
        extra[f"in-process {way} cores"] = total.cpu_s / total.wall_s if total.wall_s else float("nan")
        extra[f"CPU vs in-process {way}"] = in_us_item / server_us_item
        extra[f"vs in-process {way}"] = cores * in_us_item / server_us_item
    extra["rounds"] = [
        {
            "server CPU µs/req": b.server_cpu_s * 1e6 / max(b.requests, 1),
            "in-process dicts CPU µs/call": b.calls["dicts"].cpu_us_per_call,
            "vs in-process dicts": cores * b.calls["dicts"].cpu_us_per_call * b.requests / (b.server_cpu_s * 1e6)
            if b.server_cpu_s
            else float("nan"),
        }
        for b in blocks
    ]
    # An error in either run shows in the table's column.
    return plain | {"errors": plain["errors"] + sum(b.errors for b in blocks)}, extra


def check_batch_answers(url: str, bodies: dict[str, dict[str, Any]]) -> None:
    """Each batch row gets what it claims to measure: a 200 in its encoding, with the same rewards."""
    import httpx

    from trainer.retry import read_document

    rewards = None
    for label, body in bodies.items():
        accept = BATCH_ACCEPT.get(label)
        resp = httpx.post(f"{url}/v1/rewards/iou", json=body, headers={"Accept": accept} if accept else None)
        resp.raise_for_status()
        msgpack = resp.headers["content-type"] == "application/msgpack"
        if msgpack != (accept is not None):
            raise RuntimeError(f"{label}: answered {resp.headers['content-type']}")
        doc = read_document(resp)
        if rewards is not None and doc["rewards"] != rewards:
            raise RuntimeError(f"{label}: different rewards from the same items")
        rewards = doc["rewards"]


@contextmanager
def _store_url(store: str, workdir: Path, workers: int) -> Iterator[str]:
    if store == "sqlite":
        yield f"sqlite:///{workdir}/grouped-w{workers}-{time.time_ns()}.db"
    else:
        fresh = workdir / f"redis-w{workers}-{time.time_ns()}"  # its own append-only file
        fresh.mkdir()
        with redis_url(fresh) as url:
            yield url


if __name__ == "__main__":
    main()

"""Readiness, metrics, request ids, JSON logs, graceful shutdown, open mode on loopback."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ALICE, Server, json_log_lines, server_env


def test_readyz_and_metrics(server: Server, alice: httpx.Client) -> None:
    ready = alice.get("/readyz")
    assert ready.status_code == 200 and ready.json()["store"] is True
    alice.post("/v1/rewards/iou", json={"items": [{"completion": "x"}]})  # abstains: no reference
    text = httpx.get(f"{server.url}/metrics").text
    assert (
        'medreward_http_request_duration_seconds_bucket{le="0.001",method="POST",route="/v1/rewards/{name}"}' in text
    )
    assert 'medreward_items_scored_total{reward="iou"}' in text
    assert 'medreward_abstentions_total{reward="iou",status="unscorable"}' in text
    assert "medreward_errors_total" in text


def test_request_id_echoed_and_logged_without_keys(server: Server, alice: httpx.Client) -> None:
    resp = alice.get("/v1/runs", headers={"X-Request-ID": "trace-abc-123"})
    assert resp.headers["x-request-id"] == "trace-abc-123"
    assert alice.get("/healthz").headers["x-request-id"]  # generated when absent
    lines = json_log_lines(server.logs())
    access = [line for line in lines if line.get("request_id") == "trace-abc-123"]
    assert access and access[0]["route"] == "/v1/runs" and access[0]["status"] == 200
    assert "e2e-key-alice" not in server.logs()


def test_graceful_shutdown_finishes_in_flight(tmp_path: Path) -> None:
    srv = Server(tmp_path / "g.db", server_env(MEDREWARD_LOAD_MODELS="false")).start()
    # 4 concurrent requests of 1024 items × 100 predicted boxes matched against 100 distinct
    # references: about a second of scoring each, seconds together (the GIL serialises them).
    pred = ", ".join(f"[{i}, {i}, {i + 9}, {i + 9}]" for i in range(100))
    refs = [[i + 1, i, i + 10, i + 9] for i in range(100)]
    items = [{"completion": f"<think>t</think><answer>{pred}</answer>", "boxes": refs}] * 1024
    results: list[tuple[float, int, int]] = []

    def slow_request() -> None:
        resp = httpx.post(f"{srv.url}/v1/rewards/iou", json={"items": items}, headers=ALICE, timeout=120)
        results.append((time.monotonic(), resp.status_code, len(resp.json()["rewards"])))

    threads = [threading.Thread(target=slow_request) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # every request has arrived (a 3 MB body each); the batches are being scored
    signalled = time.monotonic()
    assert srv.stop() == 0, srv.logs()
    for t in threads:
        t.join(60)
    assert [(status, n) for _, status, n in results] == [(200, 1024)] * 4
    assert max(done for done, _, _ in results) > signalled  # still in flight when SIGTERM arrived


def test_open_mode_binds_loopback(tmp_path: Path) -> None:
    env = server_env(MEDREWARD_LOAD_MODELS="false")
    env.pop("MEDREWARD_API_KEYS")
    srv = Server(tmp_path / "o.db", env, extra_args=["--host", "0.0.0.0"]).start()
    try:
        assert httpx.get(f"{srv.url}/v1/runs").status_code == 200  # open: no key needed
        logs = srv.logs()
        assert "OPEN" in logs and "binding 127.0.0.1" in logs
        assert f"http://127.0.0.1:{srv.port}" in logs
    finally:
        assert srv.stop() == 0


@pytest.mark.slow
def test_two_workers_keys_file_and_one_run(tmp_path: Path) -> None:
    """Two uvicorn workers share the SQLite run: concurrent reports all count, retries count once."""
    keys = tmp_path / "keys.txt"
    keys.write_text("# lab keys\nfile-key-carol-77:carol\n")
    env = server_env(MEDREWARD_LOAD_MODELS="false")
    env.pop("MEDREWARD_API_KEYS")
    srv = Server(tmp_path / "w.db", env, extra_args=["--workers", "2", "--api-keys-file", str(keys)]).start()
    carol = {"Authorization": "Bearer file-key-carol-77"}
    try:
        assert httpx.get(f"{srv.url}/v1/runs", headers=ALICE).status_code == 401  # env keys are not in use
        assert (
            httpx.post(f"{srv.url}/v1/runs", json={"run_id": "w", "scheduler": "fixed"}, headers=carol).status_code
            == 201
        )
        item = {"completion": "<answer>[1, 1, 9, 9]</answer>", "boxes": [[1, 1, 9, 9]]}

        def report(i: int) -> int:
            body = {"items": [{**item, "group": f"g{i % 60}"}], "run_id": "w", "request_id": f"req-{i % 60}"}
            with httpx.Client(base_url=srv.url, headers=carol, timeout=60) as c:
                return c.post("/v1/rewards/iou", json=body).status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(report, range(120)))  # 60 distinct reports, each sent twice
        assert codes == [200] * 120
        assert httpx.get(f"{srv.url}/v1/runs/w", headers=carol).json()["groups"] == 60
        metrics = httpx.get(f"{srv.url}/metrics").text
        assert 'medreward_items_scored_total{reward="iou"} 120.0' in metrics  # summed over both workers
    finally:
        assert srv.stop() == 0, srv.logs()

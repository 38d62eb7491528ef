"""A store that goes away gives 503 + Retry-After (trainers retry) and /readyz says not ready."""

from __future__ import annotations

import socket
import subprocess
import time

from tests.app.conftest import make_client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redis_down_is_503() -> None:
    port = _free_port()
    redis = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        with make_client(store_url=f"redis://127.0.0.1:{port}/0") as c:
            assert c.post("/v1/runs", json={"run_id": "r"}).status_code == 201
            assert c.get("/readyz").status_code == 200
            redis.terminate()
            redis.wait(10)
            resp = c.get("/v1/runs/r")
            assert resp.status_code == 503
            assert resp.json()["error"]["code"] == "store_unavailable"
            assert resp.headers["retry-after"] == "1"
            ready = c.get("/readyz")
            assert ready.status_code == 503 and ready.json()["store"] is False
    finally:
        if redis.poll() is None:
            redis.kill()

"""A throwaway ``redis-server`` on a free port, for the store tests (never skipped: it fails loudly)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

REDIS_BINARY = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running_redis(workdir: Path, *, appendonly: bool = False) -> Iterator[str]:
    """Start redis-server in ``workdir``; yields its URL; stops it on exit."""
    if not Path(REDIS_BINARY).exists():
        raise RuntimeError(
            f"redis-server not found at {REDIS_BINARY}: "
            "install it (apt-get install redis-server) to run the store tests"
        )
    port = free_port()
    args = [REDIS_BINARY, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)]
    args += ["--appendonly", "yes" if appendonly else "no", "--protected-mode", "yes"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"redis-server did not start on port {port}: {err}") from None
                time.sleep(0.02)
        yield url
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

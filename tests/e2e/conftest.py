"""A real ``medreward serve`` process (uvicorn, SQLite store) on a free port, driven over HTTP.

Stopped with SIGTERM (graceful shutdown) and required to exit cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MEDREWARD = Path(sys.executable).with_name("medreward")
KEYS = {"alice": "e2e-key-alice-5f1c", "bob": "e2e-key-bob-93ad"}
ALICE = {"Authorization": f"Bearer {KEYS['alice']}"}
BOB = {"Authorization": f"Bearer {KEYS['bob']}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One running ``medreward serve`` subprocess."""

    db: Path
    env: dict[str, str]
    extra_args: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        self.port = free_port()
        self.log_path = self.db.with_suffix(f".{self.port}.log")
        cmd = [str(MEDREWARD), "serve", "--port", str(self.port), "--store-url", f"sqlite:///{self.db}"]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen([*cmd, *self.extra_args], env=self.env, cwd=ROOT, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.proc.kill()
        raise RuntimeError(f"server did not answer /healthz in {timeout}s:\n{self.logs()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: uvicorn finishes in-flight requests, then the lifespan closes the store."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not stop within {timeout}s of SIGTERM:\n{self.logs()}") from None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


def json_log_lines(logs: str) -> list[dict[str, Any]]:
    """The server's JSON log lines, as objects, split on newlines as log shippers split them. A
    line the server may still be writing when the test reads the file (the access line is written
    after the response went out) is left out."""
    complete = logs[: logs.rfind("\n") + 1]
    return [json.loads(line) for line in complete.split("\n") if line.startswith("{")]


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDREWARD_")}
    env["MEDREWARD_API_KEYS"] = ",".join(f"{key}:{tenant}" for tenant, key in KEYS.items())
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared server: two tenants, SQLite store, models loaded (the semantic reward is live)."""
    db = tmp_path_factory.mktemp("e2e") / "runs.db"
    srv = Server(db, server_env()).start()
    yield srv
    rc = srv.stop()
    assert rc == 0, srv.logs()
    assert '"medreward stopped"' in srv.logs()


@pytest.fixture
def alice(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=ALICE, timeout=60.0) as c:
        yield c


@pytest.fixture
def bob(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=BOB, timeout=60.0) as c:
        yield c

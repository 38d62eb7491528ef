"""The embedded service: a real ``medreward serve`` subprocess on a free loopback port, for ``medreward train``
when no ``--service-url`` is given. SQLite store in the output directory; stopped with SIGTERM at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedService:
    """``with EmbeddedService(out_dir) as svc: svc.url`` — the service runs for the block's duration.

    Args:
        out_dir: holds ``service.db`` (the run store) and ``service.log``.
        load_models: load the embedding model at start (only the ``semantic`` reward needs it).
        timeout: seconds to wait for ``/healthz``.
    """

    def __init__(self, out_dir: str | Path, *, load_models: bool = False, timeout: float = 120.0) -> None:
        self.out_dir = Path(out_dir)
        self.load_models = load_models
        self.timeout = timeout
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.out_dir / "service.log"

    def start(self) -> EmbeddedService:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        db = (self.out_dir / "service.db").resolve()
        # `python -m app.cli serve` is `medreward serve` without relying on the console script's location.
        cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), "--store-url", f"sqlite:///{db}"]
        env = {**os.environ, "MEDREWARD_LOAD_MODELS": "true" if self.load_models else "false"}
        env.pop("MEDREWARD_API_KEYS", None)  # loopback only, no keys: the trainer is the one caller
        env.pop("MEDREWARD_API_KEYS_FILE", None)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"medreward serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"medreward serve did not answer /healthz in {self.timeout}s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM (graceful: in-flight requests finish), then kill after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> EmbeddedService:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

"""docker-compose.yml's topology without Docker, on loopback: one ``redis-server`` (append-only),
N ``medreward serve`` replicas sharing it, and nginx balancing over them on one port.

    python -m deploy.replicas --replicas 3 --port 8000        # runs until Ctrl-C
    MEDREWARD_API_KEYS="key1:lab-a" python -m deploy.replicas

Needs ``redis-server`` and ``nginx`` on the PATH or in /usr/sbin (Debian: ``apt-get install
redis-server nginx``). Tests and benchmarks use `Topology` directly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MEDREWARD = Path(sys.executable).with_name("medreward")


class MissingTool(RuntimeError):
    """A program the topology needs is not installed."""


def find_tool(name: str, package: str) -> str:
    """The path of ``name`` (PATH, then /usr/sbin and /usr/local/sbin), or `MissingTool` saying what to install."""
    found = shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/usr/local/sbin", "/usr/bin") if (p := Path(d) / name).exists()), None
    )
    if found is None:
        raise MissingTool(f"{name} not found: install it (Debian: apt-get install -y {package})")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes] | None, timeout: float, what: str, log: Path | None) -> None:
    """Poll ``url`` until it answers 200; `RuntimeError` with the log if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} in {timeout}s:\n{_tail(log)}")


def _tail(log: Path | None, n: int = 4000) -> str:
    return log.read_text(errors="replace")[-n:] if log is not None and log.exists() else ""


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> int | None:
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


NGINX_CONF = """\
{user}daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fastcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    upstream medreward {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 16m;
        client_body_buffer_size 1m;
        location / {{
            proxy_pass http://medreward;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Request-ID $http_x_request_id;
            # A replica that refuses the connection is skipped (the request was not sent); a POST already
            # sent is not re-sent elsewhere: clients retry it, with its request_id when it reports to a run.
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 2s;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


def nginx_conf(port: int, upstreams: list[int], workdir: Path) -> str:
    """nginx config balancing ``port`` over the replicas (the compose file's gateway, on loopback)."""
    # max_fails/fail_timeout: a killed replica is left out for 2 s after one failure, then tried again.
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in upstreams)
    # As root, nginx's workers would drop to 'nobody', who cannot write the temp dirs here.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return NGINX_CONF.format(user=user, dir=workdir, servers=servers, port=port)


@dataclass
class Topology:
    """redis-server + ``replicas`` × ``medreward serve`` + nginx, all on 127.0.0.1."""

    workdir: Path
    replicas: int = 3
    workers: int = 1
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for the replicas (MEDREWARD_API_KEYS, MEDREWARD_LOAD_MODELS, ...)."""
    appendfsync: str = "everysec"
    redis_url: str = ""
    replica_ports: list[int] = field(default_factory=list)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The gateway (nginx)."""
        return f"http://127.0.0.1:{self.port}"

    def replica_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.replica_ports[i]}"

    def start(self, timeout: float = 120.0) -> Topology:
        redis_server = find_tool("redis-server", "redis-server")
        nginx = find_tool("nginx", "nginx")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_redis(redis_server)
            self.replica_ports = [free_port() for _ in range(self.replicas)]
            for i in range(self.replicas):
                self.start_replica(i, wait=False)
            for i in range(self.replicas):
                log = self.workdir / f"replica-{i}.log"
                wait_http(f"{self.replica_url(i)}/readyz", self.procs[f"replica-{i}"], timeout, f"replica {i}", log)
            self._start_nginx(nginx, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_redis(self, binary: str) -> None:
        port = free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.workdir), "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", self.appendfsync, "--protected-mode", "yes"]
        log = (self.workdir / "redis.log").open("wb")
        self.procs["redis"] = subprocess.Popen(args, stdout=log, stderr=log)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.procs["redis"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{_tail(self.workdir / 'redis.log')}")
            time.sleep(0.05)

    def start_replica(self, i: int, *, wait: bool = True, timeout: float = 120.0) -> None:
        """(Re)start replica ``i`` on its port."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDREWARD_")} | self.env
        env["MEDREWARD_STORE_URL"] = self.redis_url
        cmd = [str(MEDREWARD), "serve", "--port", str(self.replica_ports[i]), "--workers", str(self.workers)]
        log_path = self.workdir / f"replica-{i}.log"
        log = log_path.open("ab")
        self.procs[f"replica-{i}"] = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log)
        if wait:
            wait_http(f"{self.replica_url(i)}/readyz", self.procs[f"replica-{i}"], timeout, f"replica {i}", log_path)

    def kill_replica(self, i: int) -> None:
        """SIGKILL replica ``i`` (a crash: no graceful shutdown)."""
        proc = self.procs[f"replica-{i}"]
        proc.kill()
        proc.wait()

    def _start_nginx(self, binary: str, timeout: float) -> None:
        self.port = self.port or free_port()
        conf = self.workdir / "nginx.conf"
        conf.write_text(nginx_conf(self.port, self.replica_ports, self.workdir))
        log = self.workdir / "nginx.log"
        out = log.open("wb")
        self.procs["nginx"] = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.workdir), "-e", str(self.workdir / "nginx-error.log")],
            stdout=out,
            stderr=out,
        )
        wait_http(f"{self.url}/healthz", self.procs["nginx"], timeout, "nginx", self.workdir / "nginx-error.log")

    def stop(self) -> dict[str, int | None]:
        """Stop nginx, then the replicas (graceful), then Redis; their exit codes."""
        codes: dict[str, int | None] = {}
        order = ["nginx", *(k for k in self.procs if k.startswith("replica-")), "redis"]
        for name in order:
            codes[name] = _stop(self.procs.get(name))
        return codes

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per replica")
    parser.add_argument("--port", type=int, default=8000, help="nginx's port on 127.0.0.1")
    parser.add_argument("--workdir", type=Path, default=None, help="logs, nginx.conf, Redis' append-only file")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="medreward-replicas-"))
    env = {k: v for k, v in os.environ.items() if k.startswith("MEDREWARD_")}
    topo = Topology(workdir, replicas=args.replicas, workers=args.workers, port=args.port, env=env)
    try:
        topo.start()
    except MissingTool as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"medreward: {topo.url} (nginx) -> {[topo.replica_url(i) for i in range(args.replicas)]}; {topo.redis_url}")
    print(f"logs and nginx.conf in {workdir}; Ctrl-C stops everything")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        topo.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

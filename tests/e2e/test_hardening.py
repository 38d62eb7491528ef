"""What hostile or broken requests do to real connections (uvicorn, SQLite, a small body limit).

- A body over MEDREWARD_MAX_BODY_BYTES is drained (bounded) and answered 413 with its message on a
  connection that stays open, instead of a reset while the client is still sending.
- A client that sends ``Expect: 100-continue`` gets the 413 before it sends the body.
- A 500 (a bug) carries X-Request-ID, is logged once with that id (no second traceback from
  uvicorn) and keeps the keep-alive connection.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ALICE, ROOT, free_port, json_log_lines, server_env

LIMIT = 64 * 1024
BIG = 8 * 1024 * 1024  # far past the socket buffers: an undrained body resets the connection


class FaultServer:
    """`tests.e2e.fault_app` under uvicorn with the service's JSON logging."""

    def __init__(self, tmp: Path, http: str = "auto") -> None:
        self.port = free_port()
        self.log_path = tmp / "fault.log"
        env = server_env(
            MEDREWARD_STORE_URL=f"sqlite:///{tmp}/fault.db",
            MEDREWARD_LOAD_MODELS="false",
            MEDREWARD_MAX_BODY_BYTES=str(LIMIT),
        )
        code = (
            "import uvicorn; from app.logging import log_config; "
            f"uvicorn.run('tests.e2e.fault_app:app', host='127.0.0.1', port={self.port}, "
            f"log_config=log_config('info'), access_log=False, http={http!r})"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.logs()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"fault server did not start:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


# uvicorn's two HTTP parsers treat a body the app left unread differently (httptools drops it
# until the keep-alive timeout, h11 closes the connection): the service must not depend on either.
@pytest.fixture(scope="module", params=["httptools", "h11"])
def fault(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[FaultServer]:
    srv = FaultServer(tmp_path_factory.mktemp("fault"), request.param)
    yield srv
    srv.proc.terminate()
    srv.proc.wait(30)


def _still_open(conn: http.client.HTTPConnection) -> None:
    """The next request goes over the same socket (http.client would fail, not reconnect, if it was closed)."""
    sock = conn.sock
    assert sock is not None
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read()) == {"status": "ok"}
    assert conn.sock is sock, "the server closed the keep-alive connection"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_body_is_drained_and_answered_413_on_a_live_connection(
    fault: FaultServer, declared: bool
) -> None:
    conn = fault.connection()
    body = b'{"items": [' + b" " * BIG + b"]}"
    headers = {"Content-Type": "application/json", **ALICE}
    if declared:
        conn.request("POST", "/v1/rewards/format", body=body, headers=headers)
    else:
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        conn.request("POST", "/v1/rewards/format", body=chunks, headers=headers, encode_chunked=True)
    resp = conn.getresponse()
    error = json.loads(resp.read())["error"]
    assert resp.status == 413 and error["code"] == "body_too_large"
    assert f"over {LIMIT} bytes (MEDREWARD_MAX_BODY_BYTES)" in error["message"]
    _still_open(conn)
    conn.close()


def test_expect_100_continue_gets_the_413_before_sending_the_body(fault: FaultServer) -> None:
    with socket.create_connection(("127.0.0.1", fault.port), timeout=10) as sock:
        head = (
            f"POST /v1/rewards/format HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: {ALICE['Authorization']}\r\nContent-Length: {BIG}\r\nExpect: 100-continue\r\n\r\n"
        )
        sock.sendall(head.encode())
        reply = _read_response(sock)
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert "100 Continue" not in reply and "body_too_large" in reply


def _read_response(sock: socket.socket) -> str:
    """One whole response (head and Content-Length bytes of body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_a_bug_is_a_500_with_its_request_id_logged_once_on_a_kept_connection(fault: FaultServer) -> None:
    conn = fault.connection()
    conn.request("GET", "/test-only/bug", headers={"X-Request-ID": "bug-7f3a"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 500 and resp.getheader("x-request-id") == "bug-7f3a"
    assert body["error"]["code"] == "internal"
    _still_open(conn)
    conn.close()
    time.sleep(0.2)  # the log line is written after the response
    logs = fault.logs()
    errors = [e for e in json_log_lines(logs) if e["level"] == "error"]
    mine = [e for e in errors if e.get("request_id") == "bug-7f3a"]
    assert len(mine) == 1 and "RuntimeError: a deliberate bug" in mine[0]["exc_info"]
    assert "Exception in ASGI application" not in logs, "uvicorn logged the traceback a second time"
    assert sum("a deliberate bug" in line for line in logs.splitlines()) == 1, "one log line carries the traceback"

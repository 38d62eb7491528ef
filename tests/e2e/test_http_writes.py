"""Each response of the live server reaches the socket in one write (`app.http_protocol`), and the
HTTP/1.1 exchanges around it (keep-alive, ``Connection: close``, ``Expect: 100-continue``) are
unchanged. Raw sockets: an HTTP client library would hide how the bytes arrive."""

from __future__ import annotations

import json
import select
import socket
import struct

from tests.e2e.conftest import KEYS, Server

BODY = json.dumps(
    {"items": [{"completion": "<answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 52]]}] * 64}
).encode()


def _request(extra: str = "") -> bytes:
    head = (
        "POST /v1/rewards/iou HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {KEYS['alice']}\r\nContent-Length: {len(BODY)}\r\n{extra}\r\n"
    )
    return head.encode()


def _one_read(sock: socket.socket) -> bytes:
    """Wait until the socket is readable, then read once."""
    ready, _, _ = select.select([sock], [], [], 30.0)
    assert ready, "no answer within 30 s"
    return sock.recv(1 << 20)


# struct tcp_info (linux/tcp.h): tcpi_data_segs_in, the segments with data this socket received
# (Linux 4.6 and later), sits after 152 bytes of earlier fields.
_DATA_SEGS_IN = 152


def _data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("<I", info, _DATA_SEGS_IN)[0])


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:"))
    return len(body) == length


def test_each_keep_alive_response_arrives_as_one_segment(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        for _ in range(5):
            before = _data_segments_in(sock)
            sock.sendall(_request() + BODY)
            response = b""
            while not response or not _complete(response):
                response += _one_read(sock)
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            # Headers and body in one write: one TCP segment (loopback's MSS is ~64 kB), not two.
            assert _data_segments_in(sock) - before == 1, f"{len(response)} bytes came in several segments"


def test_connection_close_still_gets_its_whole_response_then_the_end(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_request("Connection: close\r\n") + BODY)
        response = b""
        while chunk := (_one_read(sock)):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200 OK\r\n") and _complete(response)
    assert b"connection: close" in response.lower()


def test_expect_100_continue_is_answered_before_the_body_is_sent(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(_request("Expect: 100-continue\r\n"))
        assert _one_read(sock) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(BODY)
        response = _one_read(sock)
        while not _complete(response):
            response += _one_read(sock)
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")

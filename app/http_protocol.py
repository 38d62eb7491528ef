"""uvicorn's httptools protocol with each response's writes coalesced into one system call.

uvicorn writes a response's status line and headers (``http.response.start``) and its body
(``http.response.body``) as two ``transport.write`` calls, and uvloop sends each at once: two
``write`` system calls and, with ``TCP_NODELAY``, two TCP segments per response. On loopback
each segment runs the kernel's whole transmit and receive path and wakes the client once more
(strace of ``medreward serve`` under wrk, 2026-12-02: one ``read`` and two ``write`` calls per
256-item batch request, the first of 175 bytes). `CoalescingTransport` holds what is written
during one turn of the event loop and hands it to the real transport as one write at the end of
that turn (``loop.call_soon``), or at once when it reaches `FLUSH_BYTES`: the response goes out
in one segment, in the same turn as before.

Nothing else changes: every other transport call goes to the real transport, after the held
bytes where order matters (``close``, ``write_eof``; ``abort`` drops them, as the real one drops
its buffer). `medreward serve` runs uvicorn with `HttpProtocol` (``http=``); ``uvicorn
app.main:app`` run by hand keeps uvicorn's own protocol and works the same, one write more.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Held bytes go out at once from this size: the real transport's own buffer (64 KiB high-water
# mark by default in asyncio and uvloop) then sees a long stream's chunks as they come, and its
# flow control (``pause_writing``, which uvicorn's ``send`` waits on) works as before.
FLUSH_BYTES = 64 << 10


class CoalescingTransport:
    """A transport whose writes within one event-loop turn reach the real one as one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self._flush)
        held = bytes(data)  # the same object for bytes; a copy of a buffer the caller may reuse
        self._held.append(held)
        self._held_bytes += len(held)
        if self._held_bytes >= FLUSH_BYTES:
            self._flush()

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        held, self._held, self._held_bytes = self._held, [], 0
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held, self._held_bytes = [], 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._held_bytes

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, pause_reading, get_extra_info, set_protocol, ...) as it is.
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

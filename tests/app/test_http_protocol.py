"""`app.http_protocol.CoalescingTransport`: a turn's writes reach the real transport as one, in order.

Through a real server: `tests/e2e/test_http_writes.py`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.http_protocol import FLUSH_BYTES, CoalescingTransport


class Recording:
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", None))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


Turn = Callable[[], None]
Pair = tuple[Recording, CoalescingTransport, Turn]


@pytest.fixture
def pair() -> Iterator[Pair]:
    """The recording transport, the coalescing one over it on a loop of its own, and a call that
    runs one turn of that loop (what ``call_soon`` scheduled runs in it)."""
    loop = asyncio.new_event_loop()
    real = Recording()
    try:
        yield real, CoalescingTransport(real, loop), lambda: loop.run_until_complete(asyncio.sleep(0))  # type: ignore[arg-type]
    finally:
        loop.close()


def test_a_turns_writes_go_out_as_one_write_at_its_end(pair: Pair) -> None:
    real, transport, turn = pair
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(bytearray(b"{}"))
    transport.write(b"")
    assert real.calls == [], "held until the turn ends"
    assert transport.get_write_buffer_size() == 7 + 21
    turn()
    assert real.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\n{}")]
    transport.write(b"next")
    turn()
    assert real.calls[1:] == [("write", b"next")], "a later turn's write is its own, the bytes as they are"


def test_a_held_bytearray_is_copied(pair: Pair) -> None:
    real, transport, turn = pair
    data = bytearray(b"abc")
    transport.write(data)
    data[:] = b"xyz"
    turn()
    assert real.calls == [("write", b"abc")]


def test_close_and_write_eof_send_what_is_held_first(pair: Pair) -> None:
    real, transport, turn = pair
    transport.write(b"a")
    transport.write_eof()
    transport.write(b"b")
    transport.close()
    assert real.calls == [("write", b"a"), ("write_eof", None), ("write", b"b"), ("close", None)]
    turn()
    assert real.calls[-1] == ("close", None), "nothing written after the close"


def test_abort_drops_what_is_held(pair: Pair) -> None:
    real, transport, turn = pair
    transport.write(b"a")
    transport.abort()
    turn()
    assert real.calls == [("abort", None)]


def test_other_calls_reach_the_real_transport(pair: Pair) -> None:
    real, transport, turn = pair
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5)
    assert transport.is_closing() is False
    real.closing = True
    transport.write(b"late")
    turn()
    assert real.calls == [], "a transport already closing gets no write (as the real one would drop it)"


def test_a_long_stream_is_handed_over_as_it_reaches_the_flush_size(
    pair: tuple[Recording, CoalescingTransport, Turn],
) -> None:
    """So the real transport's buffer, and the flow control it drives, see it within the turn."""

    real, transport, turn = pair
    transport.write(b"head")
    transport.write(b"x" * (FLUSH_BYTES - 4))
    assert real.calls == [("write", b"head" + b"x" * (FLUSH_BYTES - 4))], "one write, at once"
    transport.write(b"tail")
    assert transport.get_write_buffer_size() == 7 + 4
    turn()
    assert real.calls[1:] == [("write", b"tail")]

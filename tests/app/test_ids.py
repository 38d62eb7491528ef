"""Fresh ids: the shape of uuid4().hex, no repeats, and a forked child's sequence its own."""

from __future__ import annotations

import os
import re

from app.ids import new_id


def test_ids_are_32_hex_digits_and_do_not_repeat() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(write, "".join(new_id() for _ in range(4)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = "".join(new_id() for _ in range(4))
    assert len(child) == len(parent) == 128
    assert child != parent  # without the reseed both would draw the same next numbers

"""Fresh ids for requests and for ungrouped items' groups: unique, not secret, and no system call.

`uuid.uuid4` reads 16 bytes from the OS, a ``getrandom`` system call on every request. The ids
made here only tag log lines and responses (``X-Request-ID``) and name the group of an item that
came without one, within its own run: they must not collide, nobody gains by guessing them. A
Mersenne Twister seeded from the OS, and seeded again in a forked child so that two workers
never share a sequence, gives 128 random bits without one: 0.30 µs against 2.03 µs for
``uuid4().hex`` (timeit, 2026-12-01). In an A/B of two servers (wrk, 64 connections, one item per
POST, ten alternating 3 s rounds) the median server CPU per request fell from 136 to 130 µs; the
request rate moved within the machine's noise.
"""

from __future__ import annotations

import os
import random

_bits = random.Random()  # seeded from os.urandom
os.register_at_fork(after_in_child=_bits.seed)


def new_id() -> str:
    """32 random hex digits, the shape of ``uuid.uuid4().hex``."""
    return f"{_bits.getrandbits(128):032x}"

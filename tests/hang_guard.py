"""One time limit for the tests that feed hostile inputs (up to 100k characters) to a scorer.

These tests are not speed tests; bench/ measures speed. They guard against super-linear work (a
pattern that backtracks, a parser that recurses or rescans), which on inputs this size takes
seconds to hours. The slowest of these inputs takes about 0.04 s on a free core (8k boxes for
`iou`), so a limit of 2 s leaves a busy CI machine room while a quadratic pass over 100k
characters still trips it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

HANG_LIMIT_S = 2.0


@contextmanager
def finishes_without_hanging(what: str = "the call") -> Iterator[None]:
    """Fail if the block runs past `HANG_LIMIT_S`."""
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < HANG_LIMIT_S, f"{what} took {elapsed:.2f} s: super-linear work on a hostile input?"

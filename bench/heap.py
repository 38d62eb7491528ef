"""The benchmarks' in-process side on a frozen heap, as the service runs and README advises."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """`scorers.freeze_heap()` for the block; afterwards the heap is unfrozen again unless it was
    frozen before (a test process whose app start-up froze it keeps it so)."""
    import scorers

    frozen_before = gc.get_freeze_count()
    scorers.freeze_heap()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()

"""Shared output of the benchmarks: a plain-text table on stdout and a JSON file per bench."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Where the numbers were taken, stored next to them."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def print_table(title: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Print rows (dicts with the same keys) as an aligned table."""
    if not rows:
        print(f"{title}: no rows")
        return
    cols = list(rows[0])
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def write_json(name: str, data: Mapping[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the machine description added."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path


def time_per_call(fn: Callable[[], object], *, min_seconds: float = 0.5, repeat: int = 5) -> float:
    """Best-of-``repeat`` seconds per call of ``fn``, each round running at least ``min_seconds``."""
    fn()  # warm caches and lazy loads outside the timing
    best = float("inf")
    for _ in range(repeat):
        n = 0
        start = time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / n)
    return best


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v == 0 or 0.01 <= abs(v) < 1e6:
            return f"{v:,.2f}"
        return f"{v:.3g}"
    return str(v)

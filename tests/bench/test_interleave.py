"""`bench.interleave`: the load is paused while the in-process calls run, and running after."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.interleave import Slices, interleave

# A stand-in load generator: writes the time (CLOCK_MONOTONIC, as perf_counter reads it) every millisecond.
TICKER = """
import sys, time
with open(sys.argv[1], "w", buffering=1) as out:
    while True:
        out.write(f"{time.monotonic()}\\n")
        time.sleep(0.001)
"""


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_the_load_is_paused_during_the_calls_and_runs_after(tmp_path: Path) -> None:
    ticks = tmp_path / "ticks"
    load = subprocess.Popen([sys.executable, "-c", TICKER, str(ticks)], text=True)
    spans: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}

    def way(name: str) -> None:
        start = time.monotonic()
        time.sleep(0.002)
        spans[name].append((start, time.monotonic()))

    try:
        while not ticks.exists() or not ticks.read_text():
            time.sleep(0.01)
        calls = interleave(load, {"a": lambda: way("a"), "b": lambda: way("b")}, 0.6, Slices(0.03, 0.02, 0.01))
        assert _state(load.pid) in "RS", "the load is left running"
    finally:
        load.kill()
        load.wait()
    seen = [float(t) for t in ticks.read_text().split()]
    # Both ways took turns, and each counted call's time is its own (the first call per pause is not counted).
    assert calls["a"].calls > 0 and calls["b"].calls > 0
    for name in ("a", "b"):
        assert calls[name].calls < len(spans[name])
        assert calls[name].wall_s >= 0.002 * calls[name].calls
    # The load wrote while running, and never while a call ran (a tick already due as it stopped may land
    # in the first millisecond).
    assert len(seen) > 100
    inside = [t for t in seen for s, e in spans["a"] + spans["b"] if s + 0.001 < t < e]
    assert inside == []

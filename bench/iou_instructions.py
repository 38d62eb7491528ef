"""CPU instructions per item of the ``iou`` reward and of the VLM-R1 baseline, under valgrind.

Wall-clock ratios drift with whatever else the machine runs; instruction counts do not. Each
figure is the difference between two runs of the same process under ``valgrind --tool=cachegrind``,
one that scores the items ``2 × 4096 / batch`` times and one that only warms up, divided by the
items scored: imports and warm-up cancel out. ``PYTHONHASHSEED=0`` and one BLAS thread make the
counts repeatable (idle BLAS threads otherwise add ~10% noise). Needs ``valgrind`` on PATH;
takes about a minute per figure.

Run: ``python -m bench.iou_instructions [--batches 1,32,256,4096]``; writes
``bench/results/iou_instructions.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence

from bench.report import print_table, write_json

_ROUNDS = 2  # each figure scores 2 × 4096 items


def _workload(side: str, batch: int, rounds: int) -> None:
    """The measured process: warm up, then score ``rounds × 4096`` items in batches."""
    from bench.bench_iou import baseline_rewards, single_box_items
    from scorers import score

    items = single_box_items(4096)[:batch]
    fn = (lambda: baseline_rewards(items)) if side == "vlmr1" else (lambda: score("iou", items))
    fn()
    for _ in range(rounds * 4096 // batch):
        fn()


def _instructions(side: str, batch: int, rounds: int) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, "-m", "bench.iou_instructions", "--run", side, str(batch), str(rounds),
    ]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stderr
    m = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if m is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out[-2000:]}")
    return int(m.group(1).replace(",", ""))


def per_item(side: str, batch: int) -> float:
    """Instructions per scored item: (scoring run − warm-up run) / items scored."""
    return (_instructions(side, batch, _ROUNDS) - _instructions(side, batch, 0)) / (_ROUNDS * 4096)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--batches", default="1,32,256,4096", help="comma-separated batch sizes")
    ap.add_argument("--run", nargs=3, metavar=("SIDE", "BATCH", "ROUNDS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run:  # inside valgrind
        _workload(args.run[0], int(args.run[1]), int(args.run[2]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 2
    rows: list[dict[str, object]] = []
    for batch in (int(b) for b in args.batches.split(",")):
        ours, base = per_item("ours", batch), per_item("vlmr1", batch)
        rows.append({"batch": batch, "ours_per_item": ours, "vlmr1_per_item": base, "ratio": ours / base})
    print_table("instructions per item, iou reward vs VLM-R1-style baseline (ratio < 1: ours fewer)", rows)
    write_json("iou_instructions", {"rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

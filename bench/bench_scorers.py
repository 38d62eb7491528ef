"""Scorer throughput in-process, on one core, for every registered reward.

For each reward in ``scorers.REGISTRY`` (rewards registered later are measured too): items/s
at batch 1, 64 and 1024 through ``scorers.score`` (the service's own entry point) with params
validated once up front, as an in-process trainer would hold them; then a pathological-input
table (100k-character completion, 10k repeated tags, 10k-deep nested brackets, 10k nested
``<think>``) in ms per item, flagging anything over 50 ms. Items come from a per-reward factory
(``FACTORIES``) that builds a representative, varied batch; a reward without one falls back to
its registered ``examples``.

Targets (issue 2): ``format`` ≥ 100k items/s and ``answer`` (open, with the normaliser) ≥ 20k
items/s on one core; every pathological input scored or rejected in under 50 ms.

Run: ``.venv/bin/python -m bench.bench_scorers`` (``--quick`` for a fast, noisier pass).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from functools import partial
from itertools import cycle
from typing import Any

from bench.report import print_table, time_per_call, write_json

BATCHES = (1, 64, 1024)
PATHOLOGICAL_LIMIT_MS = 50.0
# Issue 2's throughput targets, items/s on one core at the largest batch.
TARGETS = {"format": 100_000.0, "answer": 20_000.0}

ItemFactory = Callable[[int], dict[str, Any]]

_FINDINGS = [
    "blunting of the right costophrenic angle",
    "a rounded opacity in the left upper lobe",
    "no focal consolidation",
    "an enlarged cardiac silhouette",
    "a thin pleural line at the left apex",
]
# 11 × 2 × 6 × 8 = 1,056 distinct open answers, so that a cache sees each one once per round.
_DESCRIPTORS = [
    "small",
    "large",
    "new",
    "mild",
    "moderate",
    "severe",
    "chronic",
    "acute",
    "loculated",
    "subtle",
    "marked",
]
_SIDES = ["left", "right"]
_SITES = ["upper lobe", "lower lobe", "apex", "base", "hilum", "midzone"]
_LESIONS = ["pleural effusions", "nodule", "consolidation", "pneumothorax", "atelectasis", "mass", "opacity", "cyst"]
POOL = 1024  # distinct items per reward; a batch of b cycles over POOL // b different batches


def _open_answer(i: int) -> tuple[str, str]:
    """An answer and its reference: a paraphrase, or (every third item) the wrong side."""
    d, side = _DESCRIPTORS[i % 11], _SIDES[(i // 11) % 2]
    site, lesion = _SITES[(i // 22) % 6], _LESIONS[(i // 132) % 8]
    ref_side = side if i % 3 else _SIDES[1 - (i // 11) % 2]
    return f"{d} {side} {site} {lesion}", f"{d.capitalize()} {lesion} in the {ref_side} {site}"


def _think(i: int) -> str:
    return f"<think>Image {i}: there is {_FINDINGS[i % len(_FINDINGS)]}, so I compare both sides.</think>"


def _format_item(i: int) -> dict[str, Any]:
    return {"completion": f"{_think(i)}\n<answer>{_open_answer(i)[0]}</answer>"}


def _open_item(i: int) -> dict[str, Any]:
    said, ref = _open_answer(i)
    return {"completion": f"{_think(i)}<answer>{said}</answer>", "reference": ref, "kind": "open"}


def _length_item(i: int) -> dict[str, Any]:
    return {**_format_item(i), "num_tokens": 40 + i % 300}


def _iou_item(i: int) -> dict[str, Any]:
    x, y = 100 + i % 50, 120 + i % 30
    box = f'[{{"bbox_2d": [{x}, {y}, {x + 90}, {y + 110}], "label": "nodule"}}]'
    return {
        "completion": f"{_think(i)}<answer>{box}</answer>",
        "boxes": [[105.0, 118.0, 200.0, 235.0]],
        "image_size": (512, 512),
    }


def _recitation_item(i: int) -> dict[str, Any]:
    return {
        "completion": f"{_think(i)}<answer>effusion</answer>",
        "knowledge": "Pleural effusion blunts the costophrenic angle on an upright chest radiograph.",
    }


# One representative item per reward (varied by index, so that no cache sees one item only),
# and the params it is measured with.
FACTORIES: dict[str, tuple[ItemFactory, dict[str, Any]]] = {
    "format": (_format_item, {}),
    "answer": (_open_item, {}),
    "length": (_length_item, {}),
    "semantic": (_open_item, {}),
    "iou": (_iou_item, {}),
    "recitation": (_recitation_item, {}),
}


def _from_examples(name: str) -> tuple[ItemFactory, dict[str, Any]]:
    from scorers import REGISTRY

    examples = [dict(e) for e in REGISTRY[name].examples] or [_format_item(0)]
    return (lambda i: examples[i % len(examples)]), {}


def factory(name: str) -> tuple[ItemFactory, dict[str, Any]]:
    """The item factory and params for ``name``: its own, or one cycling over its examples."""
    return FACTORIES.get(name) or _from_examples(name)


def pathological_completions() -> dict[str, str]:
    """Inputs that break naive parsers: huge, tag floods, deep nesting."""
    prose = " ".join(_FINDINGS) + ". "
    half = (prose * (50_000 // len(prose) + 1))[:50_000]
    return {
        "100k chars": f"<think>{half}</think><answer>{half}</answer>",
        "10k repeated tags": "<answer>yes</answer>" * 5_000,
        "10k-deep brackets": "<think>a</think><answer>" + "[" * 10_000 + "1, 2, 3, 4" + "]" * 10_000 + "</answer>",
        "10k nested <think>": "<think>" * 10_000 + "a" + "</think>" * 10_000 + "<answer>yes</answer>",
    }


def pin_one_core() -> int | None:
    """Pin this process to one CPU so the figures read "on one core"; returns the CPU or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


class _Rotation:
    """One scoring call per invocation, each on the next batch of the rotation; counts its calls."""

    def __init__(self, name: str, batches: Sequence[Sequence[Any]], params: Any) -> None:
        import scorers

        self.score = scorers.score
        self.name, self.params = name, params
        self.batches = cycle(batches)
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        self.score(self.name, next(self.batches), self.params)


def measure(call: _Rotation, *, min_seconds: float, repeat: int) -> tuple[float, float]:
    """Seconds per call: wall clock (best of ``repeat``, ``bench.report.time_per_call``) and CPU time.

    The CPU figure (this process's CPU seconds over all calls) is what "on one core" means on a
    shared machine: time the pinned core spent on other processes does not count.
    """
    call()  # lazy loads and first-use caches stay out of both figures
    call.calls = 0
    cpu0 = time.process_time()
    wall = time_per_call(call, min_seconds=min_seconds, repeat=repeat)
    return wall, (time.process_time() - cpu0) / call.calls


def throughput(names: Sequence[str], batches: Sequence[int], *, quick: bool) -> list[dict[str, Any]]:
    """Items/s per reward and batch size, by wall clock and by CPU time; targets judged on CPU time."""
    import scorers

    rows: list[dict[str, Any]] = []
    min_seconds, repeat = (0.1, 1) if quick else (0.5, 5)
    for name in names:
        make, raw = factory(name)
        params = scorers.get_reward(name).params.model_validate(raw)
        wall_row: dict[str, Any] = {}
        cpu_row: dict[str, Any] = {}
        pool = scorers.registry.as_items([make(i) for i in range(max(POOL, *batches))])
        for b in batches:
            chunks = [pool[k : k + b] for k in range(0, max(len(pool) - b + 1, 1), b)]
            wall, cpu = measure(_Rotation(name, chunks, params), min_seconds=min_seconds, repeat=repeat)
            wall_row[f"wall @{b}"] = b / wall
            cpu_row[f"cpu @{b}"] = b / cpu
        largest = cpu_row[f"cpu @{batches[-1]}"]
        target = TARGETS.get(name)
        verdict = "-" if target is None else f"{target:,.0f} {'ok' if largest >= target else 'MISSED'}"
        rows.append({"reward": name, **wall_row, **cpu_row, "target": verdict})
    return rows


def _unique_open_item(i: int, group: int) -> dict[str, Any]:
    """An open answer no other item repeats; its reference is shared by a GRPO group of ``group``."""
    said, _ = _open_answer(i)
    _, ref = _open_answer(i // group)
    size = f"measuring {i // 1000}.{i % 1000:03d} cm"
    ref_size = f"measuring {i // group}.0 cm"
    completion = f"{_think(i)}<answer>{said} {size}</answer>"
    return {"completion": completion, "reference": f"{ref} {ref_size}", "kind": "open"}


def cold_answer(batches: Sequence[int], *, quick: bool) -> list[dict[str, Any]]:
    """``answer`` on answers the normaliser's caches have never seen: one pass, no answer twice.

    The throughput table cycles over 1,024 answers, so after the first round the normaliser's
    caches answer for whole texts. A training run sees new completions every step, each group
    of G = 8 sharing its reference (MedLoc-R1 and Zhu et al. both use G = 8): that is the first
    row here. The second gives every item its own reference too, the pessimistic end.
    """
    import scorers

    n = 4_096 if quick else 32_768
    params = scorers.get_reward("answer").params.model_validate({})
    rows: list[dict[str, Any]] = []
    for label, group in (("answer, new answers, G=8 share a reference", 8), ("answer, every text new", 1)):
        row: dict[str, Any] = {"reward": label}
        for b in batches:
            base = (len(rows) * 10 + 1) * 10_000_000 + b * 100_000  # no text seen by an earlier pass
            pool = scorers.registry.as_items([_unique_open_item(base + i, group) for i in range(n)])
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for k in range(0, n, b):
                scorers.score("answer", pool[k : k + b], params)
            row[f"wall @{b}"] = n / (time.perf_counter() - wall0)
            row[f"cpu @{b}"] = n / (time.process_time() - cpu0)
        row["target"] = "-"
        rows.append(row)
    target = TARGETS["answer"]
    rows[0]["target"] = f"{target:,.0f} {'ok' if rows[0][f'cpu @{batches[-1]}'] >= target else 'MISSED'}"
    return rows


def pathological(names: Sequence[str]) -> list[dict[str, Any]]:
    """Ms per item for each reward on each pathological input, flagged above the limit.

    Two figures: the first call on the input (cold: whatever the reward caches is not cached
    yet; this one is flagged) and the best repeated call (warm).
    """
    import scorers

    rows: list[dict[str, Any]] = []
    for name in names:
        make, raw = factory(name)
        params = scorers.get_reward(name).params.model_validate(raw)
        scorers.score(name, [make(0)], params)  # lazy loads happen here, not on the first input
        for label, completion in pathological_completions().items():
            item = scorers.Item.model_validate({**make(0), "completion": completion})
            call = partial(scorers.score, name, [item], params)
            start = time.perf_counter()
            status = call()[0].status
            cold = (time.perf_counter() - start) * 1000
            warm = time_per_call(call, min_seconds=0.05, repeat=3) * 1000
            flag = "SLOW" if cold > PATHOLOGICAL_LIMIT_MS else "ok"
            rows.append(
                {"reward": name, "input": label, "ms first": cold, "ms warm": warm, "status": status, "< 50 ms": flag}
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the scorer benchmark: print both tables and write ``bench/results/scorers.json``."""
    parser = argparse.ArgumentParser(prog="bench_scorers", description=__doc__.splitlines()[0])
    parser.add_argument("--rewards", help="comma-separated reward names (default: every registered reward)")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)), help="comma-separated batch sizes")
    parser.add_argument("--quick", action="store_true", help="one short timing round per figure (noisier)")
    parser.add_argument("--no-pathological", action="store_true", help="skip the pathological-input table")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    parser.add_argument("--json", default="scorers", help="results file name under bench/results/ (no .json)")
    args = parser.parse_args(argv)

    cpu = None if args.no_pin else pin_one_core()
    # One core: keep BLAS/ONNX/torch from spawning threads that would only contend for it.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import scorers

    names = args.rewards.split(",") if args.rewards else sorted(scorers.REGISTRY)
    for name in names:
        scorers.get_reward(name)  # fail fast, listing the valid names
    batches = [int(b) for b in args.batches.split(",")]

    rows = throughput(names, batches, quick=args.quick)
    if "answer" in names:
        rows += cold_answer(batches, quick=args.quick)
    where = "not pinned" if cpu is None else f"pinned to CPU {cpu}"
    print_table(
        f"Scorer throughput, items/s in-process by wall clock and by CPU time ({where})",
        rows,
    )
    patho = [] if args.no_pathological else pathological(names)
    if patho:
        print_table(f"Pathological inputs, ms per item (limit {PATHOLOGICAL_LIMIT_MS:.0f} ms)", patho)
    write_json(
        args.json,
        {"pinned_cpu": cpu, "batches": batches, "quick": args.quick, "throughput": rows, "pathological": patho},
    )


if __name__ == "__main__":
    main()

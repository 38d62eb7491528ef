"""Semantic reward: fidelity on labelled medical pairs, throughput against the raw model, memory.

Fidelity: ``bench/semantic_pairs.jsonl`` holds reference/answer pairs written for this bench
(and ``semantic_pairs_holdout.jsonl`` a smaller set written after the rules were settled),
labelled 1 (same clinical meaning: paraphrase, synonym, abbreviation) or 0 (a near-miss:
negation, laterality, wrong organ, opposite polarity, wrong sequence/plane/modality, ...). For
each scorer: AUROC (rank formula, ties averaged) and accuracy at 0.5, the default operating
point of the calibrated score (the raw baselines are thresholded at 0.5 too).

Throughput: GRPO-shaped traffic, groups of 8 distinct short completions sharing one reference,
64 items per call; our reward's answers/s against the raw model embedding the same answer texts
at batch 64 with no cache. Memory: RSS of a fresh process with the model loaded.

Run: ``.venv/bin/python -m bench.bench_semantic`` (``--quick`` for a short throughput run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.report import print_table, write_json
from scorers import score
from scorers.semantic.combine import DEFAULT_THRESHOLD
from scorers.semantic.embedder import OnnxMiniLM
from scorers.semantic.lexical import lexical_similarity
from scorers.semantic.loader import load_default_embedder

PAIRS = Path(__file__).resolve().parent / "semantic_pairs.jsonl"
# Written after the rules were settled on PAIRS, to see how they carry over to unseen phrasing.
HOLDOUT = Path(__file__).resolve().parent / "semantic_pairs_holdout.jsonl"
GROUP_SIZE = 8  # G completions per prompt, a common GRPO setting (VLM-R1, MedGround-R1 use 8)
BATCH = 64  # the raw-model batch size the issue measured (~800 answers/s on 2 cores)

# Neutral framings that keep a completion's meaning: every completion of a group agrees with its
# reference, so none is settled by a clinical conflict and the model sees (almost) all of them.
_FRAMES = (
    "{} in this patient",
    "{} on the frontal image",
    "{} seen on today's study",
    "{} noted on this examination",
    "{} at the centre of the image",
    "{} in this adult",
    "{} on the current scan",
    "{} visible in this view",
)


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve by the rank (Mann-Whitney U) formula, ties given average ranks.

    >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    pos = sum(labels)
    neg = len(labels) - pos
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def accuracy(scores: Sequence[float], labels: Sequence[int], threshold: float) -> float:
    return sum((s >= threshold) == bool(y) for s, y in zip(scores, labels, strict=True)) / len(labels)


def load_pairs(path: Path = PAIRS) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fidelity(pairs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Scores of every scorer on the pairs: (summary rows, per-category accuracy rows)."""
    labels = [int(p["label"]) for p in pairs]
    items = [{"completion": f"<answer>{p['answer']}</answer>", "reference": p["reference"]} for p in pairs]
    emb = load_default_embedder()
    vecs_a = emb.embed([p["answer"] for p in pairs])
    vecs_r = emb.embed([p["reference"] for p in pairs])
    scorers: dict[str, list[float]] = {
        "lexical (rapidfuzz)": [lexical_similarity(p["answer"], p["reference"]) for p in pairs],
        "raw cosine (MiniLM)": [float(a @ r) for a, r in zip(vecs_a, vecs_r, strict=True)],
        "medreward lexical": [s.reward or 0.0 for s in score("semantic", items, {"backend": "lexical"})],
        "medreward combined": [s.reward or 0.0 for s in score("semantic", items)],
    }
    summary = [
        {
            "scorer": name,
            "auroc": round(auroc(vals, labels), 4),
            "acc@0.5": round(accuracy(vals, labels, DEFAULT_THRESHOLD), 4),
        }
        for name, vals in scorers.items()
    ]
    by_cat: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        by_cat[p["category"]].append(i)
    categories = []
    for cat, idx in sorted(by_cat.items()):
        row: dict[str, Any] = {"category": cat, "label": pairs[idx[0]]["label"], "n": len(idx)}
        for name, vals in scorers.items():
            row[name] = round(accuracy([vals[i] for i in idx], [labels[i] for i in idx], DEFAULT_THRESHOLD), 3)
        categories.append(row)
    return summary, categories


def grpo_items(pairs: list[dict[str, Any]], groups: int) -> list[dict[str, str]]:
    """``groups`` groups of `GROUP_SIZE` distinct completions, each group sharing one reference."""
    refs = sorted({p["reference"] for p in pairs})
    items: list[dict[str, str]] = []
    for g in range(groups):
        ref = refs[g % len(refs)]
        tag = f" (case {g // len(refs)})" if g >= len(refs) else ""
        for frame in _FRAMES[:GROUP_SIZE]:
            answer = frame.format(ref) + tag
            items.append(
                {"completion": f"<think>reading the image</think><answer>{answer}</answer>", "reference": ref}
            )
    return items


def throughput(pairs: list[dict[str, Any]], groups: int, rounds: int) -> dict[str, Any]:
    """Answers/s of the reward vs the raw model on the same answer texts, plus the dedupe check."""
    items = grpo_items(pairs, groups)
    answers = [it["completion"].split("<answer>")[1].split("</answer>")[0] for it in items]
    raw = OnnxMiniLM(batch_size=BATCH, cache_size=0)
    emb = load_default_embedder()

    def run_raw() -> None:
        for s in range(0, len(answers), BATCH):
            raw.embed(answers[s : s + BATCH])

    def run_reward() -> None:
        for s in range(0, len(items), BATCH):
            score("semantic", items[s : s + BATCH])

    before = emb.texts_encoded
    run_reward()
    embedded = emb.texts_encoded - before
    # The machine is shared, so its speed drifts: time raw and reward passes alternately, one
    # pass each per round, and take the median of the per-round ratios.
    # CPU time (all threads of this process) is reported too: it barely moves when other jobs
    # take the cores, so its ratio is the steadier comparison on a shared machine.
    run_raw()
    raw_s: list[float] = []
    ours_s: list[float] = []
    raw_cpu: list[float] = []
    ours_cpu: list[float] = []
    for _ in range(rounds):
        for fn, wall, cpu in ((run_raw, raw_s, raw_cpu), (run_reward, ours_s, ours_cpu)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    ratios = sorted(r / o for r, o in zip(raw_s, ours_s, strict=True))
    cpu_ratios = sorted(r / o for r, o in zip(raw_cpu, ours_cpu, strict=True))
    raw_rate, ours_rate = len(items) / statistics.median(raw_s), len(items) / statistics.median(ours_s)
    # A completion repeated in a batch is embedded once: a group of 8 copies costs one text.
    score("semantic", [{"completion": "<answer>air in the pleural space</answer>", "reference": "pneumothorax"}])
    repeat = [{"completion": "<answer>small right apical pneumothorax</answer>", "reference": "pneumothorax"}] * 8
    before = emb.texts_encoded
    score("semantic", repeat)
    repeated = emb.texts_encoded - before
    coalesced, separate = per_sample(items, coalesce=True), per_sample(items, coalesce=False)
    return {
        "items": len(items),
        "group_size": GROUP_SIZE,
        "batch": BATCH,
        "answers_embedded_first_pass": embedded,
        "raw_model_answers_per_s": round(raw_rate, 1),
        "reward_answers_per_s": round(ours_rate, 1),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_range": [round(ratios[0], 3), round(ratios[-1], 3)],
        "cpu_time_ratio": round(statistics.median(cpu_ratios), 3),
        "repeated_completion_embeddings": repeated,
        "per_sample_coalesced": coalesced,
        "per_sample_separate": separate,
    }


def per_sample(items: list[dict[str, str]], *, coalesce: bool, threads: int = 32) -> dict[str, float]:
    """Every completion in its own call, ``threads`` calls in flight (OpenRLHF and slime post one
    request per completion): answers/s, CPU ms per answer, and model passes for the lot."""
    emb = load_default_embedder()
    previous = getattr(emb, "coalesce", True)
    emb.coalesce = coalesce  # type: ignore[attr-defined]
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda it: score("semantic", [it]), items[:threads]))  # warm the threads
            passes = emb.model_calls
            start, start_cpu = time.perf_counter(), time.process_time()
            list(pool.map(lambda it: score("semantic", [it]), items))
            wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            return {
                "answers_per_s": round(len(items) / wall, 1),
                "cpu_ms_per_answer": round(1000 * cpu / len(items), 2),
                "model_passes": emb.model_calls - passes,
            }
    finally:
        emb.coalesce = previous  # type: ignore[attr-defined]


_RSS_PROBE = """
import json, sys, time
def status():
    out = {}
    for line in open('/proc/self/status'):
        k, _, v = line.partition(':')
        if k in ('VmRSS', 'VmHWM'):
            out[k] = int(v.split()[0]) / 1024
    return out
base = status()
import app.main  # the service's app with every reward registered
from scorers.semantic import load_default_embedder
e = load_default_embedder()
e.embed(['warm up the runtime', 'left pleural effusion'] * 32)
loaded = status()
print(json.dumps({'python_rss_mib': round(base['VmRSS'], 1), 'service_rss_mib': round(loaded['VmRSS'], 1),
                  'service_peak_rss_mib': round(loaded['VmHWM'], 1), 'backend': e.backend,
                  'torch_imported': 'torch' in sys.modules}))
"""


def memory() -> dict[str, Any]:
    """RSS of a fresh process that imported the service and loaded the default model."""
    out = subprocess.run([sys.executable, "-c", _RSS_PROBE], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "probe failed"}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _three_places(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for printing: AUROC near 1 needs more than the table's default two decimals."""
    return [{k: f"{v:.3f}" if isinstance(v, float) else v for k, v in row.items()} for row in rows]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--holdout", type=Path, default=HOLDOUT)
    parser.add_argument("--groups", type=int, default=64, help="GRPO groups in the throughput run")
    parser.add_argument("--quick", action="store_true", help="short throughput run (noisier)")
    args = parser.parse_args(argv)

    pairs = load_pairs(args.pairs)
    start = time.perf_counter()
    load_default_embedder()
    load_s = time.perf_counter() - start
    summary, categories = fidelity(pairs)
    print_table(
        f"Fidelity on {len(pairs)} labelled medical pairs (accuracy at {DEFAULT_THRESHOLD})", _three_places(summary)
    )
    print_table("Accuracy by category", categories)
    holdout = load_pairs(args.holdout)
    holdout_summary, holdout_categories = fidelity(holdout)
    print_table(f"Held-out set: {len(holdout)} pairs written after the rules were set", _three_places(holdout_summary))
    tp = throughput(pairs, 16 if args.quick else args.groups, 3 if args.quick else 9)
    flat = {k: v for k, v in tp.items() if not k.startswith("per_sample")}
    print_table("Throughput: groups of 8 distinct completions sharing one reference, 64 items per call", [flat])
    print_table(
        "Per-sample traffic: one completion per call, 32 calls in flight",
        [{"embedder": mode, **tp[f"per_sample_{mode}"]} for mode in ("coalesced", "separate")],
    )
    mem = memory()
    print_table("Memory of a service process with the model loaded", [mem])
    result = {
        "pairs": len(pairs),
        "positives": sum(int(p["label"]) for p in pairs),
        "threshold": DEFAULT_THRESHOLD,
        "model_load_seconds": round(load_s, 3),
        "fidelity": summary,
        "by_category": categories,
        "holdout": {"pairs": len(holdout), "fidelity": holdout_summary, "by_category": holdout_categories},
        "throughput": tp,
        "memory": mem,
    }
    write_json("semantic", result)
    return result


if __name__ == "__main__":
    main()

"""Reward fidelity on held-out sets generated from the ontology, dev and test side by side.

The sets come from `bench.fidelity.generate` (HPO terms, synonyms and is-a siblings, modifier
templates), split by a hash of the HPO id. Dev cases may be read while writing rules
(``--show-dev CATEGORY`` prints its misses); test cases are only ever scored: this bench prints
their aggregate figures and per-category rates, never a test case.

- ``answer``: accuracy of full credit, i.e. the share of cases where ``reward == 1`` exactly when
  the case deserves full credit (a wrong grade that earns partial credit counts as right, since it
  does not earn full credit), overall and per kind.
- ``semantic``: AUROC of the score against the label, and accuracy at the 0.5 operating point; the
  raw MiniLM cosine (thresholded at 0.5 too) as the baseline.
- The hand-written pairs (``bench/semantic_pairs*.jsonl``) are reported as well.

Run: ``python -m bench.bench_fidelity`` (``--label before`` stores the run under that name).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bench.bench_semantic import HOLDOUT, PAIRS, accuracy, auroc, load_pairs
from bench.fidelity.generate import SPLITS, load
from bench.report import RESULTS_DIR, machine, print_table
from scorers import score
from scorers.semantic.loader import load_default_embedder

RESULT = RESULTS_DIR / "fidelity.json"
FULL = 1.0 - 1e-9


def _answer_items(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in cases:
        item: dict[str, Any] = {
            "completion": f"<answer>{c['answer']}</answer>",
            "reference": c["reference"],
            "kind": c["kind"],
        }
        if "options" in c:
            item["options"] = c["options"]
        if "grades" in c:
            item["grades"] = c["grades"]
        out.append(item)
    return out


def answer_fidelity(cases: list[dict[str, Any]]) -> tuple[dict[str, Any], list[bool], list[Any]]:
    scores = score("answer", _answer_items(cases))
    right = [((s.reward or 0.0) >= FULL) == bool(c["full"]) for s, c in zip(scores, cases, strict=True)]
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for ok, c in zip(right, cases, strict=True):
        by_kind[c["kind"]].append(ok)
    summary = {"n": len(cases), "accuracy": round(sum(right) / len(right), 4)}
    summary |= {f"acc_{k}": round(sum(v) / len(v), 4) for k, v in sorted(by_kind.items())}
    return summary, right, scores


def semantic_fidelity(pairs: list[dict[str, Any]], raw_baseline: bool = True) -> tuple[dict[str, Any], list[float]]:
    labels = [int(p["label"]) for p in pairs]
    items = [{"completion": f"<answer>{p['answer']}</answer>", "reference": p["reference"]} for p in pairs]
    ours = [s.reward or 0.0 for s in score("semantic", items)]
    if not raw_baseline:
        return {
            "n": len(pairs),
            "auroc": round(auroc(ours, labels), 4),
            "acc@0.5": round(accuracy(ours, labels, 0.5), 4),
        }, ours
    emb = load_default_embedder()
    va, vr = emb.embed([p["answer"] for p in pairs]), emb.embed([p["reference"] for p in pairs])
    raw = [float(a @ r) for a, r in zip(va, vr, strict=True)]
    return {
        "n": len(pairs),
        "auroc": round(auroc(ours, labels), 4),
        "acc@0.5": round(accuracy(ours, labels, 0.5), 4),
        "raw_cosine_auroc": round(auroc(raw, labels), 4),
        "raw_cosine_acc@0.5": round(accuracy(raw, labels, 0.5), 4),
    }, ours


def _categories(cases: list[dict[str, Any]], ok: Sequence[bool]) -> dict[str, float]:
    by: dict[str, list[bool]] = defaultdict(list)
    for c, o in zip(cases, ok, strict=True):
        by[c["category"]].append(o)
    return {k: round(sum(v) / len(v), 3) for k, v in sorted(by.items())}


def run(show_dev: str | None = None, splits: Sequence[str] = SPLITS, raw_baseline: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "answer": {}, "semantic": {}, "categories": {}}
    for split in splits:
        cases = load(split, "answer")
        summary, right, scores = answer_fidelity(cases)
        out["answer"][split] = summary
        pairs = load(split, "semantic")
        sem, vals = semantic_fidelity(pairs, raw_baseline)
        out["semantic"][split] = sem
        sem_ok = [(v >= 0.5) == bool(p["label"]) for v, p in zip(vals, pairs, strict=True)]
        out["categories"][split] = {
            "answer": _categories(cases, right),
            "semantic": _categories(pairs, sem_ok),
        }
        if show_dev is not None and split == "dev":  # misses are printed for dev only, never for test
            for c, o, s in zip(cases, right, scores, strict=True):
                if not o and c["category"].startswith(show_dev.strip()):
                    print(
                        "ANSWER",
                        c["category"],
                        "|",
                        c["reference"],
                        "|",
                        c["answer"],
                        "->",
                        s.reward,
                        s.details.get("rule"),
                    )
            for p, o, v in zip(pairs, sem_ok, vals, strict=True):
                if not o and p["category"].startswith(show_dev.strip()):
                    print(
                        "SEMANTIC", p["category"], p["label"], "|", p["reference"], "|", p["answer"], "->", round(v, 3)
                    )
    for name, path in (("hand-written", PAIRS), ("hand-written holdout", HOLDOUT)):
        out["semantic"][name] = semantic_fidelity(load_pairs(path), raw_baseline)[0]
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--label", default="current", help="store this run under results[label]")
    parser.add_argument("--show-dev", default=None, help="print the dev misses of categories starting with this")
    parser.add_argument("--dev-only", action="store_true", help="score the dev split only (while writing rules)")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw-cosine baseline")
    args = parser.parse_args(argv)
    splits = ("dev",) if args.dev_only else SPLITS
    res = run(args.show_dev, splits, not args.no_raw)
    print_table("answer: accuracy of full credit", [{"split": k, **v} for k, v in res["answer"].items()])
    print_table("semantic", [{"set": k, **v} for k, v in res["semantic"].items()])
    cats = sorted(set(res["categories"]["dev"]["answer"]))
    print_table(
        "answer by category",
        [{"category": c, **{s: res["categories"][s]["answer"].get(c) for s in splits}} for c in cats],
    )
    cats = sorted(set(res["categories"]["dev"]["semantic"]))
    print_table(
        "semantic acc@0.5 by category",
        [{"category": c, **{s: res["categories"][s]["semantic"].get(c) for s in splits}} for c in cats],
    )
    if args.dev_only:
        return res
    stored = json.loads(RESULT.read_text()) if RESULT.is_file() else {}
    stored[args.label] = res
    RESULT.write_text(json.dumps(stored, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()

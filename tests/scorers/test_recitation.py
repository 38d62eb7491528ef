"""The recitation reward: overlap of the reasoning with injected knowledge, signed (VRFT-Aug)."""

from __future__ import annotations

import math
import random

import pytest

from scorers import score
from scorers.recitation import rouge_l, sentence_bleu, words

KNOWLEDGE = "Pleural effusion blunts the costophrenic angle and may show a meniscus sign on the chest radiograph."


def naive_bleu(hyp: list[str], ref: list[str], max_order: int = 4, eps: float = 0.1) -> float:
    """BLEU written out the long way, to check the real one against."""
    if not hyp or not ref:
        return 0.0
    logs = []
    for n in range(1, max_order + 1):
        hyp_grams = [tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1)]
        if not hyp_grams:
            break
        ref_grams = [tuple(ref[i : i + n]) for i in range(len(ref) - n + 1)]
        matched = 0
        for g in set(hyp_grams):
            matched += min(hyp_grams.count(g), ref_grams.count(g))
        if n == 1 and matched == 0:
            return 0.0
        logs.append(math.log((matched if matched else eps) / len(hyp_grams)))
    bp = 1.0 if len(hyp) > len(ref) else math.exp(1 - len(ref) / len(hyp))
    return min(1.0, bp * math.exp(sum(logs) / len(logs)))


def naive_lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def test_bleu_and_rouge_match_naive_reference_on_random_token_lists() -> None:
    rng = random.Random(0)
    vocab = ["effusion", "left", "right", "lung", "the", "is", "no", "angle"]
    for _ in range(300):
        hyp = [rng.choice(vocab) for _ in range(rng.randint(0, 12))]
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 12))]
        assert sentence_bleu(hyp, ref) == pytest.approx(naive_bleu(hyp, ref), abs=1e-12)
        lcs = naive_lcs(hyp, ref)
        expected = 0.0 if lcs == 0 else 2 * lcs / (len(hyp) + len(ref))
        assert rouge_l(hyp, ref) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("think", "params", "low", "high"),
    [
        (KNOWLEDGE, {}, -1.0, -0.99),  # verbatim recitation, penalised by default (VRFT-Aug δ⁻)
        (KNOWLEDGE, {"sign": 1}, 0.99, 1.0),  # the δ⁺ ablation rewards the same text
        (KNOWLEDGE, {"metric": "rougeL"}, -1.0, -0.99),
        ("The right apex shows a visceral pleural line with no lung markings beyond it.", {}, -0.1, 0.0),
        ("Effusion blunts the costophrenic angle here.", {"sign": 1}, 0.1, 0.9),  # partial overlap, partial reward
        ("Effusion blunts the costophrenic angle here.", {"sign": 1, "metric": "rougeL"}, 0.1, 0.9),
        ("", {}, 0.0, 0.0),  # empty reasoning recites nothing
    ],
    ids=[
        "verbatim-penalised",
        "verbatim-rewarded",
        "verbatim-rougeL",
        "own-reasoning",
        "partial-bleu",
        "partial-rougeL",
        "empty-think",
    ],
)
def test_recitation_scores(think: str, params: dict[str, object], low: float, high: float) -> None:
    item = {"completion": f"<think>{think}</think><answer>effusion</answer>", "knowledge": KNOWLEDGE}
    s = score("recitation", [item], params)[0]
    assert s.status == "ok"
    assert s.reward is not None and low <= s.reward <= high


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"completion": "<think>x</think><answer>y</answer>"}, "knowledge"),
        ({"completion": "<think>x</think><answer>y</answer>", "knowledge": "   "}, "knowledge"),
        ({"completion": "<answer>y</answer>", "knowledge": KNOWLEDGE}, "<think>"),
        ({"completion": "<think>x</think>", "knowledge": "!!! ..."}, "no words"),
    ],
    ids=["no-knowledge", "blank-knowledge", "no-think-span", "knowledge-without-words"],
)
def test_recitation_abstains_with_a_reason(item: dict[str, str], reason: str) -> None:
    s = score("recitation", [item])[0]
    assert s.reward is None and s.status == "unscorable"
    assert reason in s.details["reason"]


def test_prefixed_think_reads_reasoning_before_the_closing_tag() -> None:
    item = {"completion": f"{KNOWLEDGE}</think><answer>effusion</answer>", "knowledge": KNOWLEDGE}
    assert score("recitation", [item])[0].reward is None
    assert score("recitation", [item], {"prefixed": True})[0].reward == pytest.approx(-1.0)


def test_zero_overlap_is_positive_zero_not_negative_zero() -> None:
    item = {"completion": "<think>apex</think>", "knowledge": "costophrenic angle"}
    r = score("recitation", [item])[0].reward
    assert r == 0.0 and math.copysign(1.0, r) == 1.0


def test_long_input_is_bounded() -> None:
    assert len(words("word " * 50_000)) == 2_000
    item = {"completion": "<think>" + "effusion " * 50_000 + "</think>", "knowledge": "effusion " * 50_000}
    s = score("recitation", [item], {"metric": "rougeL"})[0]
    assert s.reward == pytest.approx(-1.0)

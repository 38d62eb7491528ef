"""The ``recitation`` reward: how much the reasoning repeats the prior knowledge put in the prompt.

VRFT-Aug (Yang et al., arXiv 2602.10619, "behavioural imitation") injects medical knowledge into
RL prompts and adds a recitation term measured by BLEU between the ``<think>`` text and that
knowledge, with a sign δ: δ⁺ rewards recitation, δ⁻ penalises it. The paper found that
penalising generalises better (positive recitation "converges to a sub-optimal plateau"), so the
default sign is -1 (VRFT-Aug, arXiv 2602.10619). Reviewers warn of hacking both ways (copying
under δ⁺, punishing honest paraphrase under δ⁻): weight it lightly in a profile.

The overlap is sentence BLEU (our implementation: uniform weights up to 4-grams, brevity
penalty, add-ε smoothing of empty n-gram orders as NLTK's ``method1``) or ROUGE-L F1, on
lower-cased word tokens. Reward = sign · overlap, in [-1, 1].
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import Field
from rapidfuzz.distance import LCSseq

from scorers.registry import Params, register
from scorers.spans import think_content
from scorers.types import Item, Score

_WORD = re.compile(r"[0-9a-z]+")
# Bounds the work per item whatever the completion holds: a recitation longer than this many
# words is already a recitation.
MAX_TOKENS = 2_000
# NLTK's SmoothingFunction.method1 default epsilon (Chen & Cherry 2014, "method 1").
BLEU_EPSILON = 0.1


def words(text: str) -> list[str]:
    """Lower-cased word and number tokens, at most `MAX_TOKENS`.

    >>> words("The LEFT lung, T2-weighted.")
    ['the', 'left', 'lung', 't2', 'weighted']
    """
    out: list[str] = []
    for m in _WORD.finditer(text.lower()):
        out.append(m.group(0))
        if len(out) >= MAX_TOKENS:
            break
    return out


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def sentence_bleu(hypothesis: Sequence[str], reference: Sequence[str], max_order: int = 4) -> float:
    """Sentence BLEU of ``hypothesis`` against one reference, in [0, 1].

    Clipped n-gram precisions for n = 1..max_order with uniform weights, geometric mean, brevity
    penalty; an order with no matching n-gram counts ε/total instead of 0 (smoothing method 1),
    and an order the hypothesis is too short to have is left out.

    >>> sentence_bleu("the lesion is in the left lobe".split(), "the lesion is in the left lobe".split())
    1.0
    >>> sentence_bleu([], ["a"])
    0.0
    """
    if not hypothesis or not reference:
        return 0.0
    log_sum, orders = 0.0, 0
    for n in range(1, max_order + 1):
        hyp = _ngrams(hypothesis, n)
        total = sum(hyp.values())
        if total == 0:
            break
        ref = _ngrams(reference, n)
        matched = sum(min(c, ref[g]) for g, c in hyp.items())
        if matched == 0 and n == 1:
            return 0.0  # nothing in common at all
        log_sum += math.log((matched or BLEU_EPSILON) / total)
        orders += 1
    c, r = len(hypothesis), len(reference)
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    return min(1.0, brevity * math.exp(log_sum / orders))


def rouge_l(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F1: longest common subsequence of tokens over both lengths, in [0, 1].

    >>> round(rouge_l("a b c d".split(), "a c d e".split()), 3)
    0.75
    """
    if not hypothesis or not reference:
        return 0.0
    lcs = LCSseq.similarity(list(hypothesis), list(reference))
    if lcs == 0:
        return 0.0
    p, r = lcs / len(hypothesis), lcs / len(reference)
    return 2 * p * r / (p + r)


class RecitationParams(Params):
    """Params of the ``recitation`` reward."""

    metric: Literal["bleu", "rougeL"] = Field(
        default="bleu", description="Overlap measure: sentence BLEU or ROUGE-L F1."
    )
    sign: Literal[-1, 1] = Field(
        default=-1, description="-1 penalises recitation (VRFT-Aug's better-generalising δ⁻), +1 rewards it."
    )
    max_order: int = Field(default=4, ge=1, le=4, description="Highest n-gram order of BLEU.")
    prefixed: bool = Field(default=False, description="The chat template already opened <think> in the prompt.")


@register(
    "recitation",
    params=RecitationParams,
    range=(-1.0, 1.0),
    description=(
        "Overlap (BLEU or ROUGE-L) of the <think> reasoning with the item's injected `knowledge`, times a sign: "
        "-1 (default) penalises reciting the prompt, +1 rewards it. Abstains without knowledge or a think span."
    ),
    citation="VRFT-Aug, Yang et al., arXiv 2602.10619 (behavioural imitation, recitation term δ±)",
    examples=(
        {
            "completion": "<think>Pleural effusion blunts the costophrenic angle; here it is blunted.</think>"
            "<answer>effusion</answer>",
            "knowledge": "Pleural effusion blunts the costophrenic angle on a chest radiograph.",
        },
        {"completion": "<think>look at the apex</think><answer>pneumothorax</answer>", "knowledge": "Unrelated text."},
        {"completion": "<answer>effusion</answer>", "knowledge": "Pleural effusion blunts the costophrenic angle."},
    ),
)
def recitation_reward(items: Sequence[Item], params: RecitationParams) -> list[Score]:
    """Sign times the overlap of each item's reasoning with its ``knowledge``; range [-1, 1].

    >>> from scorers.types import Item
    >>> item = Item(completion="<think>the heart is enlarged</think><answer>cardiomegaly</answer>",
    ...             knowledge="the heart is enlarged")
    >>> recitation_reward([item], RecitationParams())[0].reward
    -1.0
    """
    out: list[Score] = []
    for item in items:
        knowledge = (item.knowledge or "").strip()
        if not knowledge:
            out.append(Score.unscorable("item has no knowledge to compare the reasoning with"))
            continue
        think = think_content(item.completion, prefixed=params.prefixed)
        if think is None:
            out.append(Score.unscorable("completion has no <think> span"))
            continue
        hyp, ref = words(think), words(knowledge)
        if not ref:
            out.append(Score.unscorable("knowledge has no words"))
            continue
        overlap = sentence_bleu(hyp, ref, params.max_order) if params.metric == "bleu" else rouge_l(hyp, ref)
        out.append(
            Score.ok(
                0.0 + params.sign * overlap,  # 0.0 + keeps -0.0 out of the output
                metric=params.metric,
                overlap=round(overlap, 6),
                sign=params.sign,
                think_tokens=len(hyp),
                knowledge_tokens=len(ref),
            )
        )
    return out

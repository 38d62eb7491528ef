"""The ``open`` (free text) kind of the ``answer`` reward: clinically the same answer.

Both sides go through the clinical comparison (`scorers.medical.compare`): a negation,
uncertainty, laterality, polarity (severity, extent, number, size, lesion type, acuity,
malignancy ...), level or measurement mismatch, or two distinct HPO findings, is wrong whatever
the overlap; the same finding in other words (synonyms, lay terms, abbreviations, word order,
framing such as "there is" or "the image shows") is right. Binary by default (as VQA-RAD /
SLAKE / PathVQA closed-set evaluation); ``graded`` gives token F1 to what is neither (the
recall/F1 signal LLaVA-Med reports for open questions).
"""

from __future__ import annotations

from collections import Counter

from scorers.answer.verdict import Verdict, best
from scorers.medical.compare import compare_texts


def token_f1(pred: tuple[str, ...], gold: tuple[str, ...]) -> float:
    """SQuAD-style token F1 over multisets of tokens.

    >>> round(token_f1(("left", "pleural", "effusion"), ("pleural", "effusion")), 3)
    0.8
    """
    if not pred or not gold:
        return 0.0
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _open_one(answer: str, ref: str, graded: bool) -> Verdict:
    # binary: whether it is the same answer is all that counts; graded F1 needs every conflict named
    a, r, c = compare_texts(answer, ref, reasons=graded)
    extra = {"normalised": a.canonical, "reference_normalised": r.canonical}
    if not r.canonical and not r.negated:
        return Verdict(None, "reference is empty after normalisation", extra)
    if c.conflict is not None:
        rule = c.conflict.split(":", 1)[0] + "_mismatch"
        return Verdict(0.0, rule, {**extra, "conflict": c.conflict})
    if c.same:
        return Verdict(1.0, c.rule, extra)
    if a.negated and r.negated and (not a.canonical or not r.canonical):
        # "no" answering "is there a pneumothorax?" against the reference "no pneumothorax"
        return Verdict(1.0, "negation_agrees", extra)
    if graded:
        return Verdict(token_f1(a.tokens, r.tokens), "token_f1", extra)
    return Verdict(0.0, "no_match", extra)


def score_open(answer: str, refs: list[str], graded: bool = False) -> Verdict:
    """Free-text answer against accepted references, the best over them.

    >>> score_open("No pneumothorax", ["pneumothorax"]).rule
    'negation_mismatch'
    >>> score_open("Enlarged heart", ["Cardiomegaly"]).reward
    1.0
    """
    return best([_open_one(answer, ref, graded) for ref in refs])

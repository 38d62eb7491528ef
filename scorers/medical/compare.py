"""The clinical comparison both ``answer`` (open, mcq options, ordinal grades) and ``semantic`` use.

Two texts are read into findings with modifiers (`scorers.medical.normalise.analyse`: negation,
uncertainty, side, polarity groups such as severity, extent, number, size, lesion type, acuity
and malignancy; `scorers.medical.modifiers`: levels, counts, measurements) and findings identified
as HPO concepts (`scorers.medical.concepts`). Then, in this order:

1. a conflict on any of them is decisive: the answer is clinically different (``same=False``
   with ``conflict`` set), however alike the words;
2. the same finding: equal canonical text, the same words in another order once words that say
   nothing clinical are left out ("there is", "the image shows", "findings consistent with"),
   or the same HPO concepts with the same remaining words (``same=True``);
3. anything else is left open (``same=False``, no conflict): `semantic` asks the embedding model,
   ``answer`` gives no credit (or token F1 when graded).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from scorers.medical.clinical import polarity_conflict
from scorers.medical.concepts import DERIVED_CACHE, align_in_context, concept_conflict, concepts
from scorers.medical.modifiers import (
    Modifiers,
    modifier_conflict,
    notation_free,
    number_members,
    read_modifiers,
)
from scorers.medical.normalise import Analysis, analyse, clinical_conflict, expand_in_context
from scorers.medical.surface import normalise_token

# Words that frame an answer without adding clinical content: "there is X", "X is seen", "the
# image shows X", "findings consistent with X", "the patient has X", "I can see X", "X can be
# seen" all state X. Modality names are not framing: "CT" against "MRI" is an answer.
_FRAMING_SURFACE = (
    {"there", "is", "are", "was", "were", "be", "been", "it", "this", "that", "which", "of", "with", "and", "the"}
    | {"image", "images", "imaging", "shows", "show", "showing", "shown", "demonstrates", "demonstrate", "reveals"}
    | {"demonstrated", "revealed", "depicts", "depict", "depicted"}
    | {"seen", "noted", "visible", "present", "identified", "observed", "appears", "appearance", "appearances"}
    | {"finding", "findings", "consistent", "compatible", "keeping", "in", "patient", "has", "have", "had"}
    | {"answer", "diagnosis", "picture", "study", "scan", "feature", "features", "evidence", "sign", "signs"}
    | {"on", "at", "a", "an", "as", "to", "suggest", "suggests", "suggestive", "representing", "represents", "its"}
    | {"i", "we", "can", "could", "see"}
)
# Both as written (`_content_words` reads raw text) and as the normaliser leaves them (analysed
# tokens are singular: "appears" is read as "appear", which the written forms alone missed).
FRAMING_WORDS = frozenset(_FRAMING_SURFACE | {normalise_token(w) for w in _FRAMING_SURFACE})


# "The answer is X", "Answer: X": the lead-in frames the answer (and would otherwise be the word
# a trailing cue such as "absent" applies to: "the answer is absent nasal bridge").
_ANSWER_LEAD = re.compile(r"^\s*(?:the\s+)?(?:final\s+|correct\s+|most\s+likely\s+)?answer\s*(?:is\b|:)\s*", re.I)


def _lead_free(text: str) -> str:
    # the text less an "answer is" lead-in; the pattern is anchored, so one match at the start is
    # all `re.sub(count=1)` could replace, and most texts fail it at once
    m = _ANSWER_LEAD.match(text)
    return text if m is None else text[m.end() :]


_NUMBER_MEMBERS = frozenset({"single", "multiple"})
# Conflicts read from the texts as written (sides, levels, counts, measurements, hedges): naming a
# concept in other words cannot settle them, so no alignment is tried.
_SETTLED = ("laterality", "level", "count", "measure", "uncertainty")


class Comparison(NamedTuple):
    """How two texts compare clinically: the same finding, a decisive conflict, or open."""

    same: bool
    conflict: str | None
    rule: str


def core_words(a: Analysis) -> tuple[str, ...]:
    """The canonical tokens less framing words, sorted (word order carries no meaning here)."""
    return tuple(sorted(t for t in a.tokens if t not in FRAMING_WORDS))


@lru_cache(maxsize=DERIVED_CACHE)
def _concepts_and_rest(tokens: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # (sorted concept ids, sorted words outside them): tuples of strings, untracked by the collector
    found = concepts(tokens)
    covered = {i for _, start, end in found for i in range(start, end)}
    rest = tuple(sorted(t for i, t in enumerate(tokens) if i not in covered and t not in FRAMING_WORDS))
    return tuple(sorted({c for c, _, _ in found})), rest


def conflict_of(a: Analysis, b: Analysis, texts: tuple[str, str] | None = None) -> str | None:
    """The decisive clinical difference between two analyses, or None; levels, counts and
    measurements are read from ``texts`` (as written) when given, else from the analysed texts."""
    return clinical_conflict(a, b) or _finding_conflict(a, b, texts)


def _finding_conflict(a: Analysis, b: Analysis, texts: tuple[str, str] | None) -> str | None:
    # levels, counts, measurements and HPO concepts: what `clinical_conflict` does not read
    ta, tb = texts if texts is not None else (a.text, b.text)
    mb = read_modifiers(tb)  # the reference's, cached across a GRPO group
    if mb.levels or mb.counts or mb.measures or not _NUMBER_MEMBERS.isdisjoint(b.polarity):
        ma = read_modifiers(ta)
        conflict = modifier_conflict(ma, mb)
        if conflict is not None:
            return conflict
        if ma.counts or mb.counts:  # "one nodule" against "multiple nodules"
            group = polarity_conflict(
                number_members(ma.counts).union(a.polarity), number_members(mb.counts).union(b.polarity)
            )
            if group is not None:
                return f"polarity:{group}"
    if not (a.normal or b.normal):
        ca, _ = _concepts_and_rest(a.tokens)
        cb, _ = _concepts_and_rest(b.tokens)
        if concept_conflict(ca, cb):
            return "concept"
    return None


def _same_rule(a: Analysis, b: Analysis) -> str | None:
    if a.canonical == b.canonical and (a.canonical or a.negated == b.negated):
        return "exact_after_normalisation"
    if len(a.laterality) <= 1 and len(a.polarity) <= 1:
        # word order matters only when two sides or two polarities say which goes with which
        ka, kb = core_words(a), core_words(b)
        if ka and ka == kb:
            return "same_words_reordered"
    # the second text (a reference, shared by a GRPO group) first: naming no concept, it matches none
    cb, rest_b = _concepts_and_rest(b.tokens)
    if cb:
        ca, rest_a = _concepts_and_rest(a.tokens)
        if ca == cb and rest_a == rest_b:
            return "same_concept"
    return None


def compare(a: Analysis, b: Analysis, texts: tuple[str, str] | None = None, reasons: bool = True) -> Comparison:
    """Compare two analysed texts (see the module docstring for the order).

    With ``reasons=False`` the caller needs only whether the texts are the same: a pair that is
    not the same comes back ``open`` unless `clinical_conflict` names its difference, and the
    costlier readings (levels, counts, measurements, concepts) are made only for a pair that
    would otherwise be the same. The binary answer kinds take this path.

    >>> from scorers.medical.normalise import analyse
    >>> compare(analyse("the image shows an enlarged heart"), analyse("cardiomegaly"))
    Comparison(same=True, conflict=None, rule='exact_after_normalisation')
    >>> compare(analyse("glaucoma"), analyse("cataract")).conflict
    'concept'
    """
    conflict = clinical_conflict(a, b)
    if conflict is not None:
        return Comparison(False, conflict, "conflict")
    same = _same_rule(a, b)
    if same is None and not reasons:
        return Comparison(False, None, "open")
    conflict = _finding_conflict(a, b, texts)
    if conflict is not None:
        return Comparison(False, conflict, "conflict")
    if same is not None:
        return Comparison(True, None, same)
    return Comparison(False, None, "open")


_ALPHA = re.compile(r"[a-z]{3,}")


@lru_cache(maxsize=DERIVED_CACHE)
def _alpha_words(text: str) -> tuple[str, ...]:
    # the words of a text as written, less framing: two texts that differ only in how they write
    # a level or a measurement have the same ones (a cheap test before reading the numbers); a
    # sorted tuple of strings, which the cyclic collector stops tracking in the cache
    return tuple(sorted(set(_ALPHA.findall(text.lower())) - FRAMING_WORDS))


def _has_words(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` contains each of ``words`` (as substrings: a cheap test before
    `_alpha_words`, which the notation check needs equal on both sides)."""
    low = text.lower()
    for w in words:
        if w not in low:
            return False
    return True


def _same_values(a: Modifiers, b: Modifiers) -> bool:
    """Both texts give levels or measurements, and the same ones (perhaps written differently)."""
    if not (a.levels or a.measures) or a.levels != b.levels or a.counts != b.counts:
        return False
    if len(a.measures) != len(b.measures):
        return False
    return all(
        da == db and abs(va - vb) <= 1e-6 * max(abs(va), abs(vb), 1.0)
        for (va, da), (vb, db) in zip(sorted(a.measures), sorted(b.measures), strict=True)
    )


def compare_texts(text: str, other: str, reasons: bool = True) -> tuple[Analysis, Analysis, Comparison]:
    """Analyse and compare two texts, letting each settle what the other leaves ambiguous.

    Abbreviations one side leaves as written are read the way the other spells them out
    (`expand_in_context`), and a phrase naming an HPO concept the other side names too is
    written as that concept's label (`scorers.medical.concepts.align_in_context`). ``reasons``
    as in `compare`.

    >>> compare_texts("aplasia of the humerus", "absent humerus")[2].same
    True
    """
    text, other = _lead_free(text), _lead_free(other)
    a, b = analyse(text), analyse(other)
    if a.canonical != b.canonical:
        # abbreviations left as written ("LLL", lower-case "ct") read the way the other side spells them
        ea, eb = expand_in_context(text, other), expand_in_context(other, text)
        if ea != text:
            a = analyse(ea)
        if eb != other:
            b = analyse(eb)
    c = compare(a, b, reasons=reasons)
    if c.same or (c.conflict is not None and c.conflict.startswith(_SETTLED)):
        return a, b, c
    if (
        c.conflict is None
        and _has_words(text, _alpha_words(other))
        and _alpha_words(text) == _alpha_words(other)
        and _same_values(read_modifiers(text), read_modifiers(other))
    ):
        masked_a, masked_b = notation_free(text), notation_free(other)
        if masked_a != text or masked_b != other:
            # levels and measurements written two ways: "C5/6" and "C5-C6", "1.2 cm" and "12 mm"
            a3, b3 = analyse(masked_a), analyse(masked_b)
            same = _same_rule(a3, b3) if clinical_conflict(a3, b3) is None else None
            if same is not None:
                return a3, b3, Comparison(True, None, "same_notation")
    aligned = align_in_context(a.text, b.text)
    if aligned is None:
        return a, b, c
    a2, b2 = analyse(aligned[0]), analyse(aligned[1])
    # the aligned texts are normalised: "C5-C6" has become "c5 c6", so modifiers come from the originals
    return a2, b2, compare(a2, b2, (text, other), reasons)

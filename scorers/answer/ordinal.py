"""The ``ordinal`` kind of the ``answer`` reward: graded scales with credit by grade distance.

VRFT-Aug's Multi-grade Fuzzy Reward gives partial credit that decays
with the distance between the predicted and the true grade. Its exact formula was not
recovered (the paper gives 1/10 in one place and 0.0625 in another for a distance of 2), so the
curve is a parameter:

- ``exponential`` (default): ``decay ** d``, decay 0.5 → 1, 0.5, 0.25, 0.125, ...
- ``linear``: ``max(0, 1 - d / width)``, width defaulting to K−1 for a K-grade scale, so the
  opposite end of the scale scores 0;
- ``table``: an explicit credit per distance, ``table[d-1]`` at distance d, 0 beyond it
  (``(0.5, 0.0625)`` reproduces one reading of the paper).

An exact grade scores 1.0; an answer that names no grade of the scale, or two different grades,
scores 0.0 (the item is scorable, the answer is just not on the scale). A grade the answer
negates is not a grade it gives ("not severe" names no grade: 0.0; "moderate, not severe" and
"not severe but moderate" give moderate), read with the normaliser's NegEx-style scopes
(`scorers.medical.negation`; as in NegEx a comma does not end one: "not severe, moderate"
denies both).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from scorers.answer.verdict import Verdict
from scorers.medical.normalise import negated_mentions, normalise

Curve = Literal["exponential", "linear", "table"]
_NUMBER = re.compile(r"\b\d+\b")
# Roman numerals as grade numbers: after a scale word ("stage IV", "grade II") or standing alone
# ("IV"). Left to the normaliser, "IV" reads as the abbreviation for intravenous.
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10}
_ROMAN_GRADE = re.compile(
    r"\b(grade|stage|type|class|level|tier|category|score)\s+(x|ix|iv|v?i{1,3}|vi{0,3})\b(?![-'’])", re.IGNORECASE
)
_ROMAN_ALONE = re.compile(r"^\s*(x|ix|iv|v?i{1,3}|vi{0,3})\s*[.)]?\s*$", re.IGNORECASE)


def grade_text(text: str) -> str:
    """``text`` with grade numbers written in Roman numerals as digits.

    >>> grade_text("Stage IV disease"), grade_text("II"), grade_text("grade i")
    ('Stage 4 disease', '2', 'grade 1')
    """
    alone = _ROMAN_ALONE.match(text)
    if alone and alone.group(1):
        return str(_ROMAN[alone.group(1).lower()])
    return _ROMAN_GRADE.sub(lambda m: f"{m.group(1)} {_ROMAN[m.group(2).lower()]}", text)


def grade_credit(
    distance: int,
    n_grades: int,
    curve: Curve = "exponential",
    decay: float = 0.5,
    width: int | None = None,
    table: Sequence[float] | None = None,
) -> float:
    """Credit for a prediction ``distance`` grades away on an ``n_grades`` scale, in [0, 1].

    >>> [grade_credit(d, 4) for d in range(4)]
    [1.0, 0.5, 0.25, 0.125]
    >>> [round(grade_credit(d, 4, "linear"), 3) for d in range(4)]
    [1.0, 0.667, 0.333, 0.0]
    >>> [grade_credit(d, 4, "table", table=(0.5, 0.0625)) for d in range(4)]
    [1.0, 0.5, 0.0625, 0.0]
    """
    if distance <= 0:
        return 1.0
    if curve == "exponential":
        return float(decay**distance)
    if curve == "linear":
        span = width if width is not None else max(n_grades - 1, 1)
        return max(0.0, 1.0 - distance / span)
    if table is not None and distance <= len(table):
        return min(1.0, max(0.0, float(table[distance - 1])))
    return 0.0


def _grade_index(text: str, grades: list[list[str]]) -> int | None | Literal["several", "negated"]:
    toks = normalise(text).split()
    if not toks:
        return None
    words = {w for g in grades for w in g}
    # the adverb for the grade word: "moderately" (enlarged) is moderate
    toks = [t[:-2] if t.endswith("ly") and t[:-2] in words else t for t in toks]
    for i, g in enumerate(grades):
        if g and g == toks:
            return i
    spans: list[tuple[int, int, int]] = []
    for i, g in enumerate(grades):
        k = len(g)
        if not k:
            continue
        spans.extend((s, s + k, i) for s in range(len(toks) - k + 1) if toks[s] == g[0] and toks[s : s + k] == g)
    found = {
        i
        for s, e, i in spans
        if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in spans)  # "mild" in "mild to moderate"
    }
    if found:
        kept = found - negated_mentions(text, {i: grades[i] for i in found})
        if not kept:
            return "negated"
        found = kept
    if len(found) == 1:
        return found.pop()
    if len(found) > 1:
        return "several"
    # "2" or "grade II" against grades written "grade 2" / "Grade 2 (moderate)": by the number.
    numbers = set(_NUMBER.findall(" ".join(toks)))
    if len(numbers) == 1:
        (num,) = numbers
        matches = [i for i, g in enumerate(grades) if num in g]
        if len(matches) == 1:
            return matches[0]
    return None


def score_ordinal(
    answer: str,
    refs: list[str],
    grades: list[str] | None,
    curve: Curve = "exponential",
    decay: float = 0.5,
    width: int | None = None,
    table: Sequence[float] | None = None,
) -> Verdict:
    """Graded answer against the reference grade, credit decaying with distance.

    >>> g = ["none", "mild", "moderate", "severe"]
    >>> [score_ordinal(a, ["moderate"], g).reward for a in ("Moderate", "mild", "none", "huge", "moderately")]
    [1.0, 0.5, 0.25, 0.0, 1.0]
    """
    if not grades:
        return Verdict(None, "kind ordinal needs the item's grades", {"invalid": "grades"})
    scale = [normalise(grade_text(g)).split() for g in grades]
    expected = [i for i in (_grade_index(grade_text(r), scale) for r in refs) if isinstance(i, int)]
    if not expected:
        return Verdict(None, "reference is not one of the grades", {"grades": list(grades), "invalid": "reference"})
    got = _grade_index(grade_text(answer), scale)
    if got == "several":
        return Verdict(0.0, "ordinal_several_grades", {"expected": grades[expected[0]]})
    if got == "negated":
        return Verdict(0.0, "ordinal_negated_grade", {"expected": grades[expected[0]]})
    if got is None:
        return Verdict(0.0, "ordinal_unknown_grade", {"expected": grades[expected[0]]})
    distance = min(abs(got - e) for e in expected)
    reward = grade_credit(distance, len(grades), curve, decay, width, table)
    rule = "ordinal_exact" if distance == 0 else "ordinal_distance"
    return Verdict(reward, rule, {"grade": grades[got], "distance": distance})

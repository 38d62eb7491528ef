"""The ``numeric`` kind of the ``answer`` reward: measurements with units and a tolerance.

Lengths in mm, cm or m (any spelling: "millimetres", "cm") are converted to millimetres, so
"12 mm" and "1.2 cm" agree; percentages compare as percentages. A number without a unit is read
in the reference's unit (questions usually ask "in mm"); a different kind of unit (a length
against a percentage) is wrong. The answer is right when ``|a − r| ≤ max(abs_tol, rel_tol·|r|)``.
An answer giving several values that disagree is wrong (``numeric_several_values``). A value
the answer denies is not a value it gives: "not 12 mm" gives none (``numeric_negated``), "12 mm,
not 15 mm" gives 12 mm.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from scorers.answer_verdict import Verdict, best
from scorers.medical.negation import DENIAL_BEFORE

_WORD_NUMBERS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "fifty": 50,
    "hundred": 100,
}
_WORD_RE = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", re.IGNORECASE)
# A number (no exponent, at most 15 digits each side: linear and finite), then an optional unit.
_QUANTITY = re.compile(
    r"(?<![\w.])([-+]?(?:\d{1,15}(?:\.\d{1,15})?|\.\d{1,15}))\s?"
    r"(mm|cm|m|millimet(?:er|re)s?|centimet(?:er|re)s?|met(?:er|re)s?|%|percent|per\s?cent)?(?![\w])",
    re.IGNORECASE,
)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# What denies the number right after it ("not 12 mm", "rather than 15 mm"); matched against the
# few characters before a number, so anchored at their end. A comma in between ("No, 12 mm")
# makes "no" an answer to the question, not a denial of the number.
_DENIED = re.compile(DENIAL_BEFORE + r"\s{1,3}$", re.IGNORECASE)
_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
Quantity = tuple[float, str | None]  # (value in base units, dimension: "length" | "percent" | None)


def _unit(raw: str | None) -> tuple[float, str | None]:
    if not raw:
        return 1.0, None
    u = raw.lower().replace(" ", "")
    if u in ("%", "percent"):
        return 1.0, "percent"
    if u.startswith("milli"):
        u = "mm"
    elif u.startswith("centi"):
        u = "cm"
    elif u.startswith("met"):
        u = "m"
    return _TO_MM[u], "length"


@lru_cache(maxsize=65536)
def quantities(text: str, *, given: bool = False) -> tuple[Quantity, ...]:
    """Every number in ``text`` with its dimension, lengths in millimetres; with ``given``, only
    those the text does not deny ("not 15 mm").

    >>> quantities("about 1.2 cm (twelve mm), 40%, 1,200 m")
    ((12.0, 'length'), (12.0, 'length'), (40.0, 'percent'), (1200000.0, 'length'))
    >>> quantities("12 mm, not 15 mm", given=True)
    ((12.0, 'length'),)
    """
    text = _WORD_RE.sub(lambda m: str(_WORD_NUMBERS[m.group(1).lower()]), text[:2000])
    text = _THOUSANDS.sub("", text)  # "1,200 mm" is one number
    out: list[Quantity] = []
    for m in _QUANTITY.finditer(text):
        value = float(m.group(1))
        scale, dim = _unit(m.group(2))
        if math.isfinite(value) and not (given and _DENIED.search(text, max(0, m.start() - 24), m.start())):
            out.append((value * scale, dim))
    return tuple(out)


def is_measurement(text: str) -> bool:
    """True when ``text`` is one number with a unit (how ``auto`` recognises a numeric reference).

    >>> is_measurement("12 mm"), is_measurement("3"), is_measurement("grade 3 of 4 cm")
    (True, False, False)
    """
    q = quantities(text)
    return len(q) == 1 and q[0][1] is not None and len(text) < 40


def _close(a: float, r: float, rel_tol: float, abs_tol: float) -> bool:
    return abs(a - r) <= max(abs_tol, rel_tol * abs(r))


def _one(answer: tuple[Quantity, ...], ref: Quantity, rel_tol: float, abs_tol: float) -> Verdict:
    r_value, r_dim = ref
    if any(dim is not None and r_dim is not None and dim != r_dim for _, dim in answer):
        return Verdict(0.0, "unit_mismatch", {"expected": r_value})
    values = [value for value, _ in answer]
    first = values[0]
    if any(not _close(v, first, rel_tol, abs_tol) for v in values[1:]):
        return Verdict(0.0, "numeric_several_values", {"values": values})
    ok = _close(first, r_value, rel_tol, abs_tol)
    return Verdict(1.0 if ok else 0.0, "numeric_within_tol" if ok else "numeric_out_of_tol", {"value": first})


def score_numeric(answer: str, refs: list[str], rel_tol: float = 0.05, abs_tol: float = 0.0) -> Verdict:
    """Numeric answer against references, within a relative/absolute tolerance.

    >>> [score_numeric(a, ["12 mm"]).reward for a in ("1.2 cm", "12", "13 mm", "12 mm or 20 mm", "12%")]
    [1.0, 1.0, 0.0, 0.0, 0.0]
    """
    ref_qs = [(q[0], r) for r in refs if len(q := quantities(r)) == 1]
    if not ref_qs:
        return Verdict(None, "reference is not one number", {})
    got = quantities(answer, given=True)
    if not got:
        if quantities(answer):
            return Verdict(0.0, "numeric_negated", {})
        return Verdict(0.0, "numeric_no_number", {})
    verdicts = []
    for (ref_value, ref_dim), ref_text in ref_qs:
        answer_qs = got
        if ref_dim == "length":
            # bare numbers take the reference's written unit ("12" against "1.2 cm" is 12 cm)
            ref_unit = quantities_unit(ref_text)
            answer_qs = tuple((v * ref_unit, "length") if d is None else (v, d) for v, d in got)
        verdicts.append(_one(answer_qs, (ref_value, ref_dim), rel_tol, abs_tol))
    return best(verdicts)


def quantities_unit(text: str) -> float:
    """Millimetres per unit of the first unit written in ``text`` (1.0 when none).

    >>> quantities_unit("1.2 cm")
    10.0
    """
    for m in _QUANTITY.finditer(text[:2000]):
        if m.group(2):
            return _unit(m.group(2))[0]
    return 1.0

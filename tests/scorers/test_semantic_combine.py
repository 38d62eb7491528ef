"""The pieces of the combination that need no model: calibration, exclusive terms, acronyms."""

from __future__ import annotations

import pytest

from scorers.medical.normalise import analyse, partial_negation_conflict
from scorers.semantic.acronym import acronym_match
from scorers.semantic.combine import COS_MID, calibrate, decide
from scorers.semantic.contrast import exclusive_conflict, mentions


@pytest.mark.parametrize(
    ("cosine", "low", "high"),
    [
        (-1.0, 0.0, 0.001),
        (0.25, 0.0, 0.05),  # unrelated findings (Part 1a: 0.13-0.37)
        (COS_MID, 0.5, 0.5),
        (0.85, 0.95, 1.0),  # the same finding reworded
        (1.0, 0.99, 1.0),
    ],
    ids=["opposite", "unrelated", "midpoint", "paraphrase", "identical"],
)
def test_calibration_maps_cosine_onto_unit_interval(cosine: float, low: float, high: float) -> None:
    assert low <= calibrate(cosine) <= high


def test_calibration_is_strictly_increasing_and_never_reaches_the_reserved_ends() -> None:
    values = [calibrate(c / 100) for c in range(-100, 101)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))
    assert 0.0 < values[0] and values[-1] < 1.0  # 0 and 1 belong to conflicts and exact matches


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("cyst in the liver", "hepatic cyst", None),  # adjective and noun of one organ
        ("pneumothorax", "collapsed lung", None),  # finding and organ in one region
        ("kidney stone", "nephrolithiasis", None),
        ("myocardial infarction", "heart attack", None),
        ("liver and spleen", "spleen", None),  # overlap is not a contradiction
        ("frontal lobe mass", "brain mass", None),  # "lobe" alone names no organ
        ("45 year old with an acute infarct", "acute infarct", None),  # "old" is not chronicity
        ("gallbladder wall thickening", "urinary bladder wall thickening", "organ:gallbladder/urinary bladder"),
        ("fracture of the femur", "fracture of the tibia", "organ:femur/tibia"),
        ("esophagus", "trachea", "organ:esophagus/trachea"),
        ("FLAIR hyperintensity", "DWI hyperintensity", "sequence:dwi/flair"),
        ("sagittal", "axial", "plane:axial/sagittal"),
        ("portal venous phase", "arterial phase", "phase:arterial/venous"),
        ("PA view", "lateral view", "view:lateral view/pa"),
        ("unenhanced CT", "CT with contrast", "contrast:with contrast/without contrast"),
        ("chronic infarct", "acute infarct", "chronicity:acute/chronic"),
        ("abnormal", "normal", "normality:abnormal/normal"),
        ("hypoplastic left heart", "cardiomegaly", "size:enlarged/small"),
    ],
    ids=[
        "liver-adjective",
        "finding-organ",
        "kidney-synonyms",
        "heart-synonyms",
        "overlap",
        "frontal-lobe",
        "age-not-chronicity",
        "gallbladder-vs-bladder",
        "femur-tibia",
        "esophagus-trachea",
        "flair-dwi",
        "plane",
        "phase",
        "view",
        "contrast",
        "chronicity",
        "normality",
        "size",
    ],
)
def test_exclusive_conflict(a: str, b: str, expected: str | None) -> None:
    assert exclusive_conflict(a, b) == expected
    assert exclusive_conflict(b, a) == expected  # symmetric


def test_mentions_is_bounded_on_huge_input() -> None:
    assert mentions("liver " * 100_000) == {"organ": frozenset({"liver"})}


@pytest.mark.parametrize(
    ("short", "long", "expected"),
    [
        ("PE", "pulmonary embolism", True),
        ("COPD", "chronic obstructive pulmonary disease", True),
        ("RUQ", "right upper quadrant", True),
        ("AAA", "abdominal aortic aneurysm", True),
        ("PE", "pleural effusion with atelectasis", False),  # initials do not spell it
        ("PE", "pulmonary", False),  # one word is not an expansion
        ("pneumothorax", "pulmonary embolism", False),  # not a short form
        ("P.E.", "pulmonary embolism", False),  # dotted form is several words: left to the normaliser
    ],
    ids=["pe", "copd", "ruq", "aaa", "wrong-initials", "single-word", "long-word", "dotted"],
)
def test_acronym_match(short: str, long: str, expected: bool) -> None:
    assert acronym_match(short, long) is expected
    assert acronym_match(long, short) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("lungs are not clear", "lungs are clear", "negation"),
        ("the kidney has no stone", "the kidney has a stone", "negation"),
        ("pneumothorax, no effusion", "pneumothorax", None),  # the negated part is a different finding
        ("no pneumothorax", "no pneumothorax", None),
        ("no effusion but pneumothorax", "pneumothorax", None),  # 'but' ends the scope
        ("no effusion but pneumothorax", "effusion", "negation"),
    ],
    ids=["negated-predicate", "negated-object", "extra-negative-finding", "both-negated", "but-ends", "but-denied"],
)
def test_partial_negation(a: str, b: str, expected: str | None) -> None:
    assert partial_negation_conflict(analyse(a), analyse(b)) == expected


@pytest.mark.parametrize(
    ("answer", "reference", "rule"),
    [
        ("no pneumonia", "pneumonia", "conflict"),
        ("Enlarged heart.", "cardiomegaly", "canonical"),
        ("LLL", "left lower lobe", "canonical"),  # the abbreviation read the way the reference spells it out
        ("fluid in the pleural space", "pleural effusion", None),  # left to the embedding
        ("x" * 100_000, "pleural effusion", None),  # garbage is bounded, not an error
        ("Normal chest x-ray", "No acute cardiopulmonary abnormality", "canonical"),  # one statement
        ("normal", "mild cardiomegaly", "conflict"),  # normal against a finding
        ("No.", "no pneumothorax", "negation_agrees"),  # a bare no against a denied finding
        ("none", "no acute abnormality", "negation_agrees"),
        ("no", "pneumothorax", "conflict"),
    ],
    ids=[
        "conflict",
        "canonical",
        "abbreviation-in-context",
        "open",
        "huge",
        "normal-study",
        "normal-vs-finding",
        "bare-no",
        "none",
        "bare-no-vs-finding",
    ],
)
def test_decide_settles_what_the_clinical_checks_can(answer: str, reference: str, rule: str | None) -> None:
    agreement = decide(answer, reference)[2]
    assert (agreement.rule if agreement else None) == rule

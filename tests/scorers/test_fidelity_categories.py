"""One case per failure category of the fidelity issue, written from clinical meaning.

Each row says what a clinician would say about the answer; the rewards must agree. ``answer``
must give full credit exactly to the clinically same answer; ``semantic`` must rank an
equivalent at or above 0.5 and a near-miss below it.
"""

from __future__ import annotations

from typing import Any

import pytest

from scorers import score

GRADES = ["mild", "moderate", "severe"]
NUMBERED = ["grade 1", "grade 2", "grade 3", "grade 4"]
OPTIONS = {"A": "Pleural effusion", "B": "Cardiomegaly", "C": "Pneumothorax"}

# (answer, reference, kind, extra item fields, full credit?, what a clinician says)
ANSWER = [
    # open: paraphrases a clinician accepts
    ("enlarged heart", "cardiomegaly", "open", {}, True, "lay term for the finding"),
    ("There is an enlarged heart.", "cardiomegaly", "open", {}, True, "the right answer inside a sentence"),
    ("aplasia of the humerus", "absent humerus", "open", {}, True, "technical synonym (HPO EXACT)"),
    ("disc herniation at C5/6", "disc herniation at C5-C6", "open", {}, True, "another notation of one level"),
    ("a 1.2 cm nodule", "12 mm nodule", "open", {}, True, "the same length in another unit"),
    ("unremarkable study", "no acute abnormality", "open", {}, True, "a normal study worded differently"),
    # open: near-misses that must earn nothing
    ("disc herniation at C6-C7", "disc herniation at C5-C6", "open", {}, False, "another spinal level"),
    ("a 15 mm nodule", "5 mm nodule", "open", {}, False, "another size"),
    ("mild cardiomegaly", "severe cardiomegaly", "open", {}, False, "another severity"),
    ("glaucoma", "cataract", "open", {}, False, "two distinct findings of one organ"),
    # mcq
    ("enlarged heart", "B", "mcq", {"options": OPTIONS}, True, "the option named by a lay synonym"),
    ("The answer is a collapsed lung.", "C", "mcq", {"options": OPTIONS}, True, "the option named by a synonym"),
    ("A or B", "B", "mcq", {"options": OPTIONS}, False, "two options"),
    ("not cardiomegaly", "B", "mcq", {"options": OPTIONS}, False, "the option denied"),
    # closed
    ("Yes, there is a pneumothorax; no effusion.", "yes", "closed", {}, True, "a second finding denied"),
    ("Yes, there is no effusion.", "yes", "closed", {}, False, "yes and a denial of the only finding"),
    # ordinal
    ("grade three", "grade 3", "ordinal", {"grades": NUMBERED}, True, "the grade written out"),
    ("Grade III", "grade 3", "ordinal", {"grades": NUMBERED}, True, "the grade in Roman numerals"),
    ("moderately", "moderate", "ordinal", {"grades": GRADES}, True, "the grade word alone, as an adverb"),
    ("mild to moderate", "moderate", "ordinal", {"grades": GRADES}, False, "two grades"),
    ("grade 2-3", "grade 3", "ordinal", {"grades": NUMBERED}, False, "two grades by number"),
    # numeric
    ("0.012 m", "12 mm", "numeric", {}, True, "the same length in metres"),
    ("12 mL", "12 mm", "numeric", {}, False, "a volume where a length was asked"),
    ("12 mm2", "12 mm", "numeric", {}, False, "an area where a length was asked"),
]


@pytest.mark.parametrize(
    ("answer", "reference", "kind", "extra", "full", "note"), ANSWER, ids=[row[-1] for row in ANSWER]
)
def test_answer_credits_what_a_clinician_would(
    answer: str, reference: str, kind: str, extra: dict[str, Any], full: bool, note: str
) -> None:
    item = {"completion": f"<answer>{answer}</answer>", "reference": reference, "kind": kind, **extra}
    s = score("answer", [item])[0]
    assert s.reward is not None, s.details
    assert (s.reward == 1.0) is full, (note, s.reward, s.details)


# (answer, reference, same meaning?, what a clinician says)
SEMANTIC = [
    ("partial tear of the ACL", "complete tear of the ACL", False, "extent"),
    ("mild cardiomegaly", "severe cardiomegaly", False, "severity"),
    ("solitary pulmonary nodule", "multiple pulmonary nodules", False, "number"),
    ("right upper lobe consolidation", "right lower lobe consolidation", False, "lobe"),
    ("disc protrusion at L4-L5", "disc protrusion at L5-S1", False, "spinal level"),
    ("lesion in segment 4 of the liver", "lesion in segment 7 of the liver", False, "liver segment"),
    ("acute infarct", "old infarct", False, "acuity"),
    ("glaucoma", "cataract", False, "related but different diagnoses"),
    ("cystic renal lesion", "solid renal lesion", False, "lesion type"),
    ("calcified nodule", "non-calcified nodule", False, "calcification"),
    ("benign mass", "malignant mass", False, "malignancy"),
    ("PA view", "lateral view", False, "radiographic view"),
    ("arterial phase", "portal venous phase", False, "contrast phase"),
    ("normal heart size", "enlarged heart", False, "normal vs enlarged size"),
    ("fluid around the lungs", "pleural effusion", True, "lay paraphrase"),
    ("collapsed lung", "pneumothorax", True, "lay synonym"),
    ("PE", "pulmonary embolism", True, "abbreviation"),
    ("CXR normal", "normal chest x-ray", True, "abbreviation in a normal-study statement"),
    ("unremarkable study", "no acute abnormality", True, "normal study worded differently"),
    ("disc protrusion at C5/6", "disc protrusion at C5-C6", True, "another notation of one level"),
]


@pytest.mark.parametrize(("answer", "reference", "same", "note"), SEMANTIC, ids=[row[-1] for row in SEMANTIC])
def test_semantic_separates_equivalents_from_near_misses(answer: str, reference: str, same: bool, note: str) -> None:
    s = score("semantic", [{"completion": f"<answer>{answer}</answer>", "reference": reference}])[0]
    assert s.reward is not None, s.details
    assert (s.reward >= 0.5) is same, (note, s.reward, s.details)

"""Wording the ontology does not hold, each case written from its clinical meaning: lay terms,
misspellings, normal findings stated as normality, device positions. Through the ``answer``
reward (open kind, binary), as a trainer sees it."""

from __future__ import annotations

import pytest

from bench.fidelity.generate import split_of
from bench.fidelity.lay_terms import LAY_TERMS
from scorers import score
from scorers.medical.lexicon import LAY_TERMS as LAY_TERMS_OF_THE_LEXICON
from scorers.medical.lexicon import lay_phrases
from scorers.medical.spelling import corrected
from scorers.medical.surface import surface


def open_reward(answer: str, reference: str) -> tuple[float | None, str]:
    s = score("answer", [{"completion": f"<answer>{answer}</answer>", "reference": reference, "kind": "open"}])[0]
    return s.reward, s.details["rule"]


# (answer, reference, note): the same finding in words a patient or a hurried report would use
SAME = [
    ("brain bleed", "intracranial haemorrhage", "lay term for bleeding inside the skull"),
    ("there is a bleed on the brain", "intracranial hemorrhage", "lay term in a sentence"),
    ("fluid on the knee", "knee joint effusion", "lay term for a knee effusion"),
    ("knee effusion", "knee joint effusion", "the short clinical name"),
    ("broken rib", "rib fracture", "broken is fractured"),
    ("fractured collarbone", "clavicle fracture", "lay name of the bone"),
    ("fracture of the femur", "broken thighbone", "of-phrase against lay words"),
    ("chest infection", "pneumonia", "lay term"),
    ("collapsed lung", "pneumothorax", "HPO's own layperson synonym still works"),
    ("pneumothroax", "pneumothorax", "two letters swapped"),
    ("small pleural efusion", "small pleural effusion", "a letter dropped"),
    ("cardiomegally", "cardiomegaly", "a letter doubled"),
    ("heart size is normal", "no cardiomegaly", "normal size is the absence of enlargement"),
    ("the heart is not enlarged", "no cardiomegaly", "not enlarged is no cardiomegaly"),
    ("costophrenic angles are clear", "no pleural effusion", "clear angles exclude an effusion"),
    ("endotracheal tube in good position", "endotracheal tube is appropriately positioned", "two ways of 'right'"),
    ("I can see a left pleural effusion", "left pleural effusion", "the speaker frames the finding"),
    ("A left pleural effusion can be seen.", "left pleural effusion", "a modal frame"),
    ("There appears to be a left pleural effusion.", "left pleural effusion", "an inflected frame verb"),
    ("The x-ray demonstrates a left pleural effusion.", "left pleural effusion", "the study as the subject"),
]

# (answer, reference, note): clinically different, however alike the words
DIFFERENT = [
    ("no brain bleed", "intracranial hemorrhage", "the lay term denied"),
    ("brain bleed", "pneumothorax", "lay term for another finding"),
    ("left pneumothroax", "right pneumothorax", "a misspelling keeps its side"),
    ("lungs are clear", "no pneumothorax", "clear lungs is not one absent finding"),
    ("no pneumothorax", "lungs are clear", "nor the reverse"),
    ("normal heart size", "cardiomegaly", "normal size against enlargement"),
    ("heart size is normal", "no pleural effusion", "a normal heart says nothing of the pleura"),
    ("endotracheal tube in good position", "endotracheal tube in the right main bronchus", "malpositioned tip"),
    ("nasogastric tube coiled in the esophagus", "nasogastric tube in satisfactory position", "coiled is wrong"),
    ("chest tube is not in good position", "chest tube in good position", "position denied"),
    ("CT", "MRI", "a modality is an answer, not a frame"),
    ("I cannot see a pneumothorax", "pneumothorax", "the framed finding denied"),
    ("We see no pleural effusion", "pleural effusion", "denied after a framing verb"),
]


@pytest.mark.parametrize(("answer", "reference", "note"), SAME, ids=[c[2] for c in SAME])
def test_same_finding_in_other_words_scores_1(answer: str, reference: str, note: str) -> None:
    assert open_reward(answer, reference)[0] == 1.0, note


@pytest.mark.parametrize(("answer", "reference", "note"), DIFFERENT, ids=[c[2] for c in DIFFERENT])
def test_different_finding_scores_0(answer: str, reference: str, note: str) -> None:
    assert open_reward(answer, reference)[0] == 0.0, note


def test_malposition_is_named_as_a_device_position_conflict() -> None:
    reward, rule = open_reward("ET tube tip in the right mainstem bronchus", "ET tube in satisfactory position")
    assert (reward, rule) == (0.0, "polarity_mismatch")


def test_a_bronchus_without_a_device_is_no_malposition() -> None:
    # "right main bronchus" is a malposition only for a device's tip; a mass there is a location
    assert open_reward("mass in the right main bronchus", "mass in the right main bronchus")[0] == 1.0
    assert open_reward("mass in the right main bronchus", "mass")[1] != "polarity_mismatch"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("pneumothroax", "pneumothorax"),
        ("atelectsis", "atelectasis"),
        ("effusion", None),  # a term is never corrected
        ("infusion", None),  # nor a real word one edit from a term
        ("diffusion", None),
        ("fusion", None),  # short words are left alone
        ("midzone", None),  # an unknown word with no term one edit away stays as it is
    ],
)
def test_spelling_corrects_only_non_words_one_edit_from_one_term(word: str, expected: str | None) -> None:
    assert corrected(word) == expected


def test_lexicon_holds_no_held_out_lay_term() -> None:
    """The fidelity bench's test lay terms measure lay language no entry was written for. (The
    productive "broken <bone>" rule does read the three test fractures: that is generalisation
    by a rule, reported as such with the bench figures.)"""
    lexicon = {surface(lay) for lay in LAY_TERMS_OF_THE_LEXICON}
    held_out = {surface(lay) for lay, _ in LAY_TERMS if split_of("lay:" + lay) == "test"}
    assert held_out and not lexicon & held_out
    assert {surface(lay) for lay, _ in lay_phrases()} >= lexicon

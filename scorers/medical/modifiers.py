"""Modifiers read from the text as written: spinal levels and segments, counts and measurements.

The word-level modifiers (side, severity, extent, number words, size, lesion type, acuity,
malignancy) are polarity groups in `scorers.medical.clinical`; the ones here need the digits and
punctuation that normalisation rewrites: "C5-C6", "C5/6" and "C5-6" are one level and "C6-C7"
another; "two nodules" is a count and "15 mm" a length ("0.5 cm" and "5 mm" are one length).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from scorers.medical.quantities import QUANTITY, quantities, unit

# A vertebral level or range: C, T, L or S with a number, optionally "-", "/", "–" or "to" and
# a second segment whose letter may be left out ("C5-6" is C5-C6). A single T-segment is left
# out: "T1" and "T2" are MRI sequences far more often than vertebrae.
_LEVEL = re.compile(
    r"(?<![\w])([ctls])\s?(\d{1,2})(?:\s?(?:-|–|/|to)\s?([ctls])?\s?(\d{1,2}))?(?![\w])", re.IGNORECASE
)
# Couinaud liver segments and numbered bronchopulmonary segments: "segment 4", "segment IVa".
_SEGMENT = re.compile(r"\bsegments?\s+(\d{1,2}|[ivx]{1,4})([ab])?\b", re.IGNORECASE)
_ANY_NUMBER = re.compile(
    r"\d|segment|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|fifty|hundred)\b",
    re.IGNORECASE,
)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "x": 10}


@dataclass(frozen=True, slots=True)
class Modifiers:
    """Levels (e.g. "c5-c6", "segment4"), counts (bare integers) and measured values by dimension."""

    levels: tuple[str, ...]
    counts: tuple[int, ...]
    measures: tuple[tuple[float, str], ...]


_EMPTY = Modifiers((), (), ())


@lru_cache(maxsize=65536)
def read_modifiers(text: str) -> Modifiers:
    """The levels, counts and measurements of ``text``.

    >>> m = read_modifiers("disc protrusion at C5/6, two nodules of 0.5 cm")
    >>> sorted(m.levels), sorted(m.counts), m.measures
    (['c5-c6'], [2], ((5.0, 'length'),))
    """
    text = text[:2000]
    if _ANY_NUMBER.search(text) is None:  # the usual answer: nothing to read
        return _EMPTY
    levels: set[str] = set()
    masked = text
    for m in _LEVEL.finditer(text):
        letter, first, letter2, second = m.group(1).lower(), m.group(2), m.group(3), m.group(4)
        if second is None and letter == "t":
            continue
        if second is None:
            levels.add(f"{letter}{int(first)}")
        else:
            levels.add(f"{letter}{int(first)}-{(letter2 or letter).lower()}{int(second)}")
        masked = masked.replace(m.group(0), " ")
    for m in _SEGMENT.finditer(text):
        raw = m.group(1).lower()
        n = int(raw) if raw.isdigit() else _ROMAN.get(raw, 0)
        levels.add(f"segment{n}{(m.group(2) or '').lower()}")
        masked = masked.replace(m.group(0), " ")
    counts: set[int] = set()
    measures: list[tuple[float, str]] = []
    for value, dim in quantities(masked, given=True):
        if dim is None:
            if value == int(value) and 0 < value < 100:
                counts.add(int(value))
        else:
            measures.append((value, dim))
    if not levels and not counts and not measures:
        return _EMPTY
    return Modifiers(tuple(sorted(levels)), tuple(sorted(counts)), tuple(measures))


def number_members(counts: tuple[int, ...]) -> frozenset[str]:
    """The number-group members a count stands for: 1 is "single", more is "multiple"."""
    if not counts:
        return frozenset()
    return frozenset("single" if c == 1 else "multiple" for c in counts)


def modifier_conflict(a: Modifiers, b: Modifiers, rel_tol: float = 0.05) -> str | None:
    """ "level", "count" or "measure:<dimension>" when both texts give one and they disagree.

    >>> modifier_conflict(read_modifiers("at C5-6"), read_modifiers("at C6-C7"))
    'level'
    >>> modifier_conflict(read_modifiers("5 mm cyst"), read_modifiers("0.5 cm cyst")) is None
    True
    """
    if a.levels and b.levels and set(a.levels).isdisjoint(b.levels):
        return "level"
    if a.counts and b.counts and a.counts != b.counts:
        return "count"
    for dim in {d for _, d in a.measures} & {d for _, d in b.measures}:
        va = [v for v, d in a.measures if d == dim]
        vb = [v for v, d in b.measures if d == dim]
        if not any(abs(x - y) <= rel_tol * max(abs(x), abs(y)) for x in va for y in vb):
            return f"measure:{dim}"
    return None


@lru_cache(maxsize=65536)
def notation_free(text: str) -> str:
    """``text`` with every level and measurement written as one token of its value, so that two
    notations of one value read alike ("C5/6" and "C5-C6" → "levelc5c6"; "1.2 cm" and "12 mm"
    → "size12length").

    >>> notation_free("herniation at C5/6, 1.2 cm") == notation_free("herniation at C5-C6, 12 mm")
    True
    """
    text = text[:2000]
    if _ANY_NUMBER.search(text) is None:
        return text

    def level(m: re.Match[str]) -> str:
        letter, first, letter2, second = m.group(1).lower(), m.group(2), m.group(3), m.group(4)
        if second is None:
            return m.group(0) if letter == "t" else f" level{letter}{int(first)} "
        return f" level{letter}{int(first)}{(letter2 or letter).lower()}{int(second)} "

    text = _LEVEL.sub(level, text)

    def measure(m: re.Match[str]) -> str:
        if not m.group(2):
            return m.group(0)
        scale, dim = unit(m.group(2))
        value = float(m.group(1)) * scale
        return f" size{value:.6g}{dim} ".replace(".", "p").replace("-", "minus")

    return QUANTITY.sub(measure, text)

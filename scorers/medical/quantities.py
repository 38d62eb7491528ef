"""Numbers with their units, read from free text: lengths in millimetres, other dimensions named.

Shared by the ``numeric`` answer kind and the clinical comparison (a "15 mm" nodule is not a
"5 mm" one). Lengths in mm, cm or m (any spelling) are converted to millimetres; percentages,
areas, volumes, masses and times keep their own dimension, so that "12 mL" is never read as a
length of 12 (a volume given where a length was asked). A number with no unit has dimension None.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from scorers.medical.negation import DENIAL_BEFORE

_WORD_NUMBERS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "fifty": 50,
    "hundred": 100,
}
_WORD_RE = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", re.IGNORECASE)
# Unit spellings by dimension; areas and volumes before lengths ("mm2" is not "mm" then "2").
_UNITS: tuple[tuple[str, str, float], ...] = (
    (r"(?:mm|cm|m)(?:2|²|\^2)|sq\.?\s?(?:mm|cm|m)|square\s(?:millimet|centimet|met)(?:er|re)s?", "area", 1.0),
    (
        r"(?:mm|cm|m)(?:3|³|\^3)|cc|ml|millilit(?:er|re)s?|l|lit(?:er|re)s?|cubic\s(?:millimet|centimet)(?:er|re)s?",
        "volume",
        1.0,
    ),
    (r"mg|kg|g|grams?|kilograms?|milligrams?", "mass", 1.0),
    (r"ms|s|sec|seconds?|min|minutes?|h|hours?|days?|weeks?|months?|years?", "time", 1.0),
    (r"hu|hounsfield\sunits?", "density", 1.0),
    (r"bpm|beats\sper\sminute", "rate", 1.0),
    (r"mmhg", "pressure", 1.0),
)
_LENGTHS = r"mm|cm|m|millimet(?:er|re)s?|centimet(?:er|re)s?|met(?:er|re)s?"
_PERCENT = r"%|percent|per\s?cent"
# A number (no exponent, at most 15 digits each side: linear and finite), then an optional unit.
QUANTITY = re.compile(
    r"(?<![\w.])([-+]?(?:\d{1,15}(?:\.\d{1,15})?|\.\d{1,15}))\s?"
    r"(" + "|".join(u for u, _, _ in _UNITS) + "|" + _LENGTHS + "|" + _PERCENT + r")?(?![\w²³])",
    re.IGNORECASE,
)
_DIMENSION_OF = [(re.compile(rf"^(?:{u})$", re.IGNORECASE), dim) for u, dim, _ in _UNITS]
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# What denies the number right after it ("not 12 mm", "rather than 15 mm"); matched against the
# few characters before a number, so anchored at their end. A comma in between ("No, 12 mm")
# makes "no" an answer to the question, not a denial of the number.
_DENIED = re.compile(DENIAL_BEFORE + r"\s{1,3}$", re.IGNORECASE)
_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
Quantity = tuple[float, str | None]  # (value in base units, dimension: "length", "percent", "volume", ... | None)


@lru_cache(maxsize=1024)
def unit(raw: str | None) -> tuple[float, str | None]:
    """(scale to the base unit, dimension) of a unit as written.

    >>> unit("cm"), unit("mL"), unit(None)
    ((10.0, 'length'), (1.0, 'volume'), (1.0, None))
    """
    if not raw:
        return 1.0, None
    u = raw.lower().replace(" ", "")
    if u in ("%", "percent", "per cent", "percent"):
        return 1.0, "percent"
    if u.startswith("per"):
        return 1.0, "percent"
    for pattern, dim in _DIMENSION_OF:
        if pattern.match(raw.strip()):
            return 1.0, dim
    if u.startswith("milli"):
        u = "mm"
    elif u.startswith("centi"):
        u = "cm"
    elif u.startswith("met"):
        u = "m"
    return _TO_MM.get(u, 1.0), "length"


@lru_cache(maxsize=65536)
def quantities(text: str, *, given: bool = False) -> tuple[Quantity, ...]:
    """Every number in ``text`` with its dimension, lengths in millimetres; with ``given``, only
    those the text does not deny ("not 15 mm").

    >>> quantities("about 1.2 cm (twelve mm), 40%, 1,200 m, 12 mL, 3 mm2")
    ((12.0, 'length'), (12.0, 'length'), (40.0, 'percent'), (1200000.0, 'length'), (12.0, 'volume'), (3.0, 'area'))
    >>> quantities("12 mm, not 15 mm", given=True)
    ((12.0, 'length'),)
    """
    text = _WORD_RE.sub(lambda m: str(_WORD_NUMBERS[m.group(1).lower()]), text[:2000])
    text = _THOUSANDS.sub("", text)  # "1,200 mm" is one number
    out: list[Quantity] = []
    for m in QUANTITY.finditer(text):
        value = float(m.group(1))
        scale, dim = unit(m.group(2))
        if math.isfinite(value) and not (given and _DENIED.search(text, max(0, m.start() - 24), m.start())):
            out.append((value * scale, dim))
    return tuple(out)


def first_unit_scale(text: str) -> float:
    """Base units per unit of the first unit written in ``text`` (1.0 when none).

    >>> first_unit_scale("1.2 cm")
    10.0
    """
    for m in QUANTITY.finditer(text[:2000]):
        if m.group(2):
            return unit(m.group(2))[0]
    return 1.0

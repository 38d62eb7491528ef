"""Finding the boxes a model wrote: ``[x1, y1, x2, y2]`` lists, JSON, Qwen2-VL box tokens.

Where to look: the last ``<answer>…</answer>`` span; a completion cut off inside its answer
(an ``<answer>`` with no closing tag) is read from its last ``<answer>``; without answer tags,
what follows the last ``</think>``; else the whole completion (Qwen2.5-VL grounding prompts
often ask for bare JSON).

What counts as a box, in this order:

1. Qwen2-VL box tokens ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` (every one in the span);
2. every list of exactly four numbers ``[x1, y1, x2, y2]`` — this one pattern also covers
   Qwen2.5-VL JSON ``[{"bbox_2d": [...], "label": "..."}]`` inside or outside a ```json
   fence, ``{"bbox": [...]}``, InternVL's ``[[x1,y1,x2,y2]]`` and truncated JSON, since the
   coordinates are always such a list (a JSON parser would reject truncated output);
3. failing both, point pairs ``(x1,y1),(x2,y2)`` (Visual-RFT's reasoning-grounding format).

Numbers may be integers, decimals, negative, in exponent form, or NaN/Infinity (so that a NaN
box is *found* and rejected with its reason rather than silently skipped). All patterns are
precompiled with bounded repetition: linear time on any input, 100k characters included.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# A number token as models and JSON write them; bounded so that no input can make it backtrack.
# Possessive quantifiers (``?+``, ``{m,n}+``) never give characters back: what follows a number
# (space, comma, bracket) can never be part of one, so giving back could not find a match, and
# not keeping the backtracking state makes the common case about a third faster.
_NUM = (
    r"[-+]?+(?:\d{1,32}+(?:\.\d{0,32}+)?+(?:[eE][-+]?\d{1,4}+)?+|\.\d{1,32}+(?:[eE][-+]?\d{1,4}+)?+"
    r"|[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?+)"
)
_S = r"\s{0,16}+"
_C = rf"{_S},{_S}"
# re.ASCII: coordinates are JSON numbers, ASCII digits and spaces (and the engine checks ASCII
# classes faster than Unicode ones).
LIST4 = re.compile(rf"\[{_S}({_NUM}){_C}({_NUM}){_C}({_NUM}){_C}({_NUM}){_S}\]", re.ASCII)
QWEN2VL = re.compile(
    rf"<\|box_start\|>{_S}\({_S}({_NUM}){_C}({_NUM}){_S}\){_C}\({_S}({_NUM}){_C}({_NUM}){_S}\){_S}<\|box_end\|>",
    re.ASCII,
)
POINT_PAIR = re.compile(rf"\({_S}({_NUM}){_C}({_NUM}){_S}\){_C}\({_S}({_NUM}){_C}({_NUM}){_S}\)", re.ASCII)
# A polygon: a list of at least three [x, y] vertices (bounded to 4096 vertices).
_VERTEX = rf"\[{_S}(?:{_NUM}){_C}(?:{_NUM}){_S}\]"
POLYGON = re.compile(rf"\[{_S}({_VERTEX}(?:{_C}{_VERTEX}){{2,4095}}){_S}\]", re.ASCII)
VERTEX = re.compile(rf"\[{_S}({_NUM}){_C}({_NUM}){_S}\]", re.ASCII)

# Coordinates beyond this are garbage, not geometry; the bound keeps areas finite.
MAX_ABS_COORD = 1e9

Box = tuple[float, float, float, float]
NO_BOX = "no box found in the answer"


@dataclass(frozen=True, slots=True)
class ParsedBoxes:
    """What `parse_boxes` found.

    ``boxes`` holds the boxes as written (no coordinate mapping). ``error`` is set when
    something box-shaped was found but cannot be scored (NaN, reversed corners, too many);
    an empty ``boxes`` with no ``error`` means the span holds no box at all. ``fmt`` names the
    format that matched: ``"qwen2vl"``, ``"list"`` or ``"points"``.
    """

    boxes: list[Box]
    fmt: str | None = None
    error: str | None = None

    @property
    def reason(self) -> str | None:
        """Why no valid box came out (``error``, or that there is none), or None when some did.

        >>> parse_boxes("<answer>no lesion</answer>").reason
        'no box found in the answer'
        """
        if self.error is not None:
            return self.error
        return None if self.boxes else NO_BOX


def answer_bounds(text: str) -> tuple[int, int]:
    """Start and end offsets of the part of a completion that holds the answer.

    The rules are in the module docstring; offsets rather than a slice so that the patterns
    can search the completion in place (``pattern.findall(text, start, end)``) without a copy.

    >>> answer_bounds("<think>x</think><answer>[5,6,7,8]</answer>")
    (24, 33)
    """
    end = text.rfind("</answer>")
    if end >= 0:
        start = text.rfind("<answer>", 0, end)
        if start >= 0:
            return start + 8, end
    start = text.rfind("<answer>")
    if start >= 0:
        return start + 8, len(text)
    think = text.rfind("</think>")
    if think >= 0:
        return think + 8, len(text)
    return 0, len(text)


def answer_region(text: str) -> str:
    """The part of a completion that holds the answer (see the module docstring).

    >>> answer_region("<think>[1,2,3,4]</think><answer>[5,6,7,8]</answer>")
    '[5,6,7,8]'
    >>> answer_region("<think>[1,2,3,4]</think> [5,6,7,8]")
    ' [5,6,7,8]'
    >>> answer_region("<think>x</think><answer>[5, 6, 7")  # cut off by the length limit
    '[5, 6, 7'
    """
    start, end = answer_bounds(text)
    return text[start:end]


# Why a box cannot be scored, by reason code (0: it can). Predicted boxes may be degenerate (a
# point scores IoU 0); a reference box must have an area. The numpy check of a whole batch
# (`scorers.box_batch`) returns the same codes, in the same order of checks.
PRED_REASONS = (
    "",
    "invalid box: non-finite coordinate",
    f"invalid box: coordinate beyond ±{MAX_ABS_COORD:g}",
    "invalid box: x2 < x1",
    "invalid box: y2 < y1",
)
REF_REASONS = (
    "",
    "invalid reference box: non-finite coordinate",
    f"invalid reference box: coordinate beyond ±{MAX_ABS_COORD:g}",
    "invalid reference box: x2 <= x1 (no area)",
    "invalid reference box: y2 <= y1 (no area)",
)


def box_code(x1: float, y1: float, x2: float, y2: float, *, strict_area: bool = False) -> int:
    """The reason code of one box: an index into `PRED_REASONS` (or `REF_REASONS` with
    ``strict_area``), 0 when the box can be scored.

    >>> box_code(10, 10, 5, 20), box_code(0, 0, 5, 0), box_code(0, 0, 5, 0, strict_area=True)
    (3, 0, 4)
    """
    m = MAX_ABS_COORD
    if not (-m <= x1 <= m and -m <= y1 <= m and -m <= x2 <= m and -m <= y2 <= m):  # NaN fails too
        return 1 if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) else 2
    if (x2 <= x1) if strict_area else (x2 < x1):
        return 3
    if (y2 <= y1) if strict_area else (y2 < y1):
        return 4
    return 0


def box_error(x1: float, y1: float, x2: float, y2: float) -> str | None:
    """Why a predicted box cannot be scored, or None if it can.

    >>> box_error(10, 10, 5, 20)
    'invalid box: x2 < x1'
    >>> box_error(0, 0, float("nan"), 1)
    'invalid box: non-finite coordinate'
    """
    code = box_code(x1, y1, x2, y2)
    return PRED_REASONS[code] if code else None


def find_box_tokens(text: str) -> tuple[list[tuple[str, str, str, str]], str | None]:
    """The raw coordinate strings of every box in the answer part, and the format matched.

    The shared first step of `parse_boxes` and of the batch reward, which converts and
    validates the numbers for the whole batch at once.

    >>> find_box_tokens("<answer>[1, 2, 3.5, 4]</answer>")
    ([('1', '2', '3.5', '4')], 'list')
    """
    # The usual completion, one closed <answer> span, inline: this is per-sample traffic's
    # whole parse, and a call to `answer_bounds` and its tuple cost ~2% of it (same rule).
    end = text.rfind("</answer>")
    start = text.rfind("<answer>", 0, end) if end >= 0 else -1
    if start >= 0:
        start += 8
    else:
        start, end = answer_bounds(text)
    # A "|" anywhere first: a one-character search (memchr) is the cheapest test there is, and
    # few completions hold one. ("<|" measured 10x slower than "|": a two-character needle
    # takes the general string search, which stops at every "<" of the tags.)
    if "|" in text and text.find("<|box_start|>", start, end) >= 0:
        found = QWEN2VL.findall(text, start, end)
        if found:
            return found, "qwen2vl"
    found = LIST4.findall(text, start, end)
    if found:
        return found, "list"
    found = POINT_PAIR.findall(text, start, end)
    if found:
        return found, "points"
    return found, None


def parse_boxes(text: str, *, max_boxes: int = 100) -> ParsedBoxes:
    """Every box in the answer part of ``text``, or why none can be scored.

    >>> parse_boxes('<answer>```json\\n[{"bbox_2d": [12, 30.5, 80, 96], "label": "nodule"}]\\n```</answer>')
    ParsedBoxes(boxes=[(12.0, 30.5, 80.0, 96.0)], fmt='list', error=None)
    >>> parse_boxes("<|box_start|>(100,200),(300,400)<|box_end|>").boxes
    [(100.0, 200.0, 300.0, 400.0)]
    >>> parse_boxes("<answer>[50, 10, 20, 40]</answer>").error
    'invalid box: x2 < x1'
    >>> parse_boxes("<answer>no lesion</answer>")
    ParsedBoxes(boxes=[], fmt=None, error=None)
    """
    found, fmt = find_box_tokens(text)
    if not found:
        return ParsedBoxes([])
    if len(found) > max_boxes:
        return ParsedBoxes([], fmt, f"too many boxes: {len(found)} > max_boxes={max_boxes}")
    boxes: list[Box] = []
    for a, b, c, d in found:
        box = (float(a), float(b), float(c), float(d))
        err = box_error(*box)
        if err is not None:
            return ParsedBoxes([], fmt, err)
        boxes.append(box)
    return ParsedBoxes(boxes, fmt)


def parse_polygons(text: str, *, max_polygons: int = 100) -> list[list[tuple[float, float]]] | str:
    """Polygons written as ``[[x, y], [x, y], [x, y], ...]`` in the answer part, or why not.

    Returns an empty list when the span holds none; a string (the reason) when one holds a
    non-finite vertex or there are too many.

    >>> parse_polygons("<answer>[[0, 0], [4, 0], [4, 3]]</answer>")
    [[(0.0, 0.0), (4.0, 0.0), (4.0, 3.0)]]
    """
    region = answer_region(text)
    polygons: list[list[tuple[float, float]]] = []
    for m in POLYGON.finditer(region):
        if len(polygons) >= max_polygons:
            return f"too many polygons: > max_boxes={max_polygons}"
        vertices = [(float(x), float(y)) for x, y in VERTEX.findall(m.group(1))]
        if not all(math.isfinite(x) and math.isfinite(y) for x, y in vertices):
            return "invalid polygon: non-finite vertex"
        if any(abs(x) > MAX_ABS_COORD or abs(y) > MAX_ABS_COORD for x, y in vertices):
            return f"invalid polygon: coordinate beyond ±{MAX_ABS_COORD:g}"
        polygons.append(vertices)
    return polygons

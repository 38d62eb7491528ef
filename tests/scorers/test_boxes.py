"""Finding boxes in what a model wrote: every format models use, and every way it goes wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorers.boxes import ParsedBoxes, answer_region, box_error, find_box_tokens, parse_boxes, parse_polygons
from tests.hang_guard import finishes_without_hanging

FORMATS = [
    # (completion, expected boxes, expected format, note)
    ("<answer>[10, 20, 30, 40]</answer>", [(10, 20, 30, 40)], "list", "bare integer list"),
    ("<answer>[10.5,20.25,30.0,40.75]</answer>", [(10.5, 20.25, 30, 40.75)], "list", "floats, no spaces"),
    ("<answer>[0.12, 0.3, 0.5, 0.61]</answer>", [(0.12, 0.3, 0.5, 0.61)], "list", "normalised 0-1 floats"),
    ("<answer>[.5, 1e2, 2.5E2, +3e2]</answer>", [(0.5, 100, 250, 300)], "list", "leading dot, exponents, plus sign"),
    ("<answer>[-4, -2, 10, 12]</answer>", [(-4, -2, 10, 12)], "list", "negative corner (clipped later)"),
    (
        '<answer>{"bbox_2d": [12, 30, 80, 96], "label": "nodule"}</answer>',
        [(12, 30, 80, 96)],
        "list",
        "Qwen2.5-VL JSON object",
    ),
    (
        '<answer>```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"bbox_2d": [5, 6, 7, 8], "label": "b"}]\n```'
        "</answer>",
        [(1, 2, 3, 4), (5, 6, 7, 8)],
        "list",
        "JSON list in a json fence",
    ),
    (
        '```json\n[\n  {"bbox_2d": [100, 120, 300, 330], "label": "left pleural effusion"}\n]\n```',
        [(100, 120, 300, 330)],
        "list",
        "fenced JSON, no answer tags (Qwen2.5-VL grounding prompt)",
    ),
    ("<answer>{'bbox': [3, 4, 5, 6]}</answer>", [(3, 4, 5, 6)], "list", "single-quoted bbox key"),
    ('<answer>[{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"bbox_2d": [5, 6', [(1, 2, 3, 4)], "list", "truncated JSON"),
    ("<answer><box>[[10,20,30,40]]</box></answer>", [(10, 20, 30, 40)], "list", "InternVL double brackets"),
    (
        "<|object_ref_start|>nodule<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>",
        [(100, 200, 300, 400)],
        "qwen2vl",
        "Qwen2-VL box tokens",
    ),
    (
        "<answer><|box_start|>( 1 , 2 ),( 3 , 4 )<|box_end|> and <|box_start|>(5,6),(7,8)<|box_end|></answer>",
        [(1, 2, 3, 4), (5, 6, 7, 8)],
        "qwen2vl",
        "two Qwen2-VL boxes with spaces",
    ),
    ("<answer>the lesion spans (12,30),(80,96)</answer>", [(12, 30, 80, 96)], "points", "two corner points"),
    (
        "<think>first guess [0, 0, 5, 5]</think><answer>[10, 10, 20, 20]</answer>",
        [(10, 10, 20, 20)],
        "list",
        "a box in the reasoning is not the answer",
    ),
    (
        "<answer>[1, 1, 2, 2]</answer> wait <answer>[3, 3, 4, 4]</answer>",
        [(3, 3, 4, 4)],
        "list",
        "the last answer wins",
    ),
    ("<think>reasoning [0, 0, 5, 5]</think> [10, 10, 20, 20]", [(10, 10, 20, 20)], "list", "no tags: after </think>"),
    ("<answer>[1, 2, 3]</answer>", [], None, "three numbers are not a box"),
    ("<answer>[1, 2, 3, 4, 5]</answer>", [], None, "five numbers are not a box"),
    ("<answer>[x1, y1, x2, y2]</answer>", [], None, "the format echoed back, no numbers"),
    ("<answer>[١, ٢, ٣٣, ٤٤]</answer>", [], None, "coordinates are ASCII digits, as JSON numbers are"),
    ("<answer>No abnormality detected.</answer>", [], None, "no box at all"),
    ("", [], None, "empty completion"),
]


@pytest.mark.parametrize(("text", "boxes", "fmt"), [c[:3] for c in FORMATS], ids=[c[3] for c in FORMATS])
def test_formats(text: str, boxes: list[tuple[float, ...]], fmt: str | None) -> None:
    parsed = parse_boxes(text)
    assert parsed.error is None
    assert parsed.boxes == [tuple(float(v) for v in b) for b in boxes]
    assert parsed.fmt == fmt
    assert parsed.reason == (None if boxes else "no box found in the answer")


INVALID = [
    ("<answer>[50, 10, 20, 40]</answer>", "invalid box: x2 < x1", "reversed x corners"),
    ("<answer>[10, 50, 20, 40]</answer>", "invalid box: y2 < y1", "reversed y corners"),
    ("<answer>[nan, 1, 2, 3]</answer>", "invalid box: non-finite coordinate", "NaN"),
    ('<answer>{"bbox_2d": [NaN, 1, 2, 3]}</answer>', "invalid box: non-finite coordinate", "JSON NaN"),
    ("<answer>[0, 0, Infinity, 3]</answer>", "invalid box: non-finite coordinate", "Infinity"),
    ("<answer>[0, 0, -inf, 3]</answer>", "invalid box: non-finite coordinate", "-inf"),
    ("<answer>[0, 0, 1e400, 3]</answer>", "invalid box: non-finite coordinate", "overflow to inf"),
    ("<answer>[0, 0, 1e300, 3]</answer>", "invalid box: coordinate beyond ±1e+09", "absurdly large"),
    ("<answer>[1, 1, 2, 2] [9, 9, 3, 3]</answer>", "invalid box: x2 < x1", "one bad box spoils the answer"),
]


@pytest.mark.parametrize(("text", "reason"), [c[:2] for c in INVALID], ids=[c[2] for c in INVALID])
def test_invalid_boxes_say_why(text: str, reason: str) -> None:
    parsed = parse_boxes(text)
    assert parsed.boxes == []
    assert parsed.error == reason
    assert parsed.reason == reason


def test_too_many_boxes() -> None:
    text = "<answer>" + " ".join(f"[{i}, {i}, {i + 1}, {i + 1}]" for i in range(11)) + "</answer>"
    assert parse_boxes(text, max_boxes=11).error is None
    assert parse_boxes(text, max_boxes=10).error == "too many boxes: 11 > max_boxes=10"


def test_zero_area_prediction_is_a_box() -> None:
    """A degenerate prediction is wrong, not unscorable: it earns IoU 0 like any miss."""
    assert box_error(5, 5, 5, 9) is None
    assert parse_boxes("<answer>[5, 5, 5, 9]</answer>").boxes == [(5.0, 5.0, 5.0, 9.0)]


REGIONS = [
    ("<answer>a</answer>", "a", "complete answer"),
    ("<answer>a</answer><answer>b</answer>", "b", "last complete answer"),
    ("<think>t</think><answer>cut off", "cut off", "unterminated answer"),
    ("<think>t</think>after", "after", "no answer tags"),
    ("plain", "plain", "no tags at all"),
]


@pytest.mark.parametrize(("text", "region"), [c[:2] for c in REGIONS], ids=[c[2] for c in REGIONS])
def test_answer_region(text: str, region: str) -> None:
    assert answer_region(text) == region


_SPAN_PIECES = st.sampled_from(
    ["<answer>", "</answer>", "<think>", "</think>", "<|box_start|>", "<|box_end|>", "<|", "(1,2),(3,4)",
     "[1, 2, 3, 4]", "[5,6,7,8]", "x", " "]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_SPAN_PIECES, max_size=12).map("".join))
def test_find_box_tokens_reads_the_answer_region(text: str) -> None:
    """`find_box_tokens` inlines the usual answer-span rule: it must read what `answer_region` gives."""
    region = answer_region(text)
    assert find_box_tokens(text) == find_box_tokens(f"<answer>{region}</answer>")


ADVERSARIAL = [
    ("[" * 50_000 + "]" * 50_000, "deep nesting"),
    ("[1, " * 25_000, "an unterminated list of 25k numbers"),
    ("[1,2,3," * 15_000, "near-miss boxes over and over"),
    ("(" * 50_000 + ")" * 50_000, "deep parentheses"),
    ("[[1,2]," * 15_000, "unterminated polygon"),
    ("<answer>" * 12_000, "repeated open tags"),
    ("1" * 100_000, "one 100k-digit number"),
    (" " * 100_000 + "[1,2,3,4]", "100k spaces then a box"),
    ("<|box_start|>(" * 7_000, "unterminated Qwen2-VL boxes"),
]


@pytest.mark.parametrize("text", [c[0] for c in ADVERSARIAL], ids=[c[1] for c in ADVERSARIAL])
def test_adversarial_input_does_not_hang(text: str) -> None:
    """Bounded patterns: no input of 100k characters takes long or raises."""
    with finishes_without_hanging():
        parsed = parse_boxes(text)
        polygons = parse_polygons(text)
    assert isinstance(parsed, ParsedBoxes)
    assert isinstance(polygons, list | str)


POLYGONS = [
    ("<answer>[[0, 0], [4, 0], [4, 3]]</answer>", [[(0, 0), (4, 0), (4, 3)]], "triangle"),
    (
        "<answer>[[0,0],[2,0],[2,2],[0,2]] and [[5.5, 5], [6, 5], [6, 6]]</answer>",
        [[(0, 0), (2, 0), (2, 2), (0, 2)], [(5.5, 5), (6, 5), (6, 6)]],
        "two outlines",
    ),
    ("<answer>[[0, 0], [4, 0]]</answer>", [], "two vertices are a segment, not a polygon"),
    ("<answer>[10, 20, 30, 40]</answer>", [], "a box is not a polygon"),
]


@pytest.mark.parametrize(("text", "expected"), [c[:2] for c in POLYGONS], ids=[c[2] for c in POLYGONS])
def test_parse_polygons(text: str, expected: list[list[tuple[float, float]]]) -> None:
    assert parse_polygons(text) == [[(float(x), float(y)) for x, y in poly] for poly in expected]


def test_parse_polygons_rejects_nan() -> None:
    assert parse_polygons("<answer>[[0, 0], [nan, 0], [4, 3]]</answer>") == "invalid polygon: non-finite vertex"

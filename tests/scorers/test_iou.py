"""The ``iou`` reward end to end: coordinates, shaping modes, matching, and every refusal."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from scorers import Score, score
from scorers.box_batch import SMALL_BATCH
from scorers.box_metrics import METRICS
from scorers.boxes import parse_boxes
from scorers.coords import input_size_from_grid, smart_resize
from tests.hang_guard import finishes_without_hanging
from tests.scorers.test_box_metrics import naive_metric


def one(completion: str, params: dict[str, Any] | None = None, **fields: Any) -> Score:
    return score("iou", [{"completion": completion, **fields}], params)[0]


def ans(box: list[float] | str) -> str:
    return f"<think>looking at the film</think><answer>{box}</answer>"


# --- coordinate modes -----------------------------------------------------------------------------

COORDS = [
    # (completion, item fields, params, expected raw IoU, note)
    (ans("[10, 10, 50, 50]"), {"boxes": [[10, 10, 50, 50]]}, {}, 1.0, "abs pixels, same box"),
    (
        ans('{"bbox_2d": [20, 20, 60, 60]}'),
        {"boxes": [[40, 40, 120, 120]], "image_size": (400, 400), "input_size": (200, 200)},
        {},
        1.0,
        "Qwen2.5-VL: model-input pixels scaled back ×2",
    ),
    (
        ans("[100, 100, 200, 200]"),
        {"boxes": [[200, 100, 400, 200]], "image_size": (1000, 500), "input_size": (500, 500)},
        {},
        1.0,
        "non-uniform resize: x ×2, y ×1",
    ),
    (
        ans("[100, 100, 200, 200]"),
        {"boxes": [[100, 100, 200, 200]], "image_size": (1000, 500), "input_size": (500, 500)},
        {},
        0.0,
        "mapped back it misses: without the resize it would have scored 1.0",
    ),
    (ans("[0.1, 0.1, 0.2, 0.2]"), {"boxes": [[0.1, 0.1, 0.2, 0.2]]}, {"coords": "norm1"}, 1.0, "norm1 without size"),
    (
        ans("[0.1, 0.1, 0.3, 0.2]"),
        {"boxes": [[0.1, 0.1, 0.2, 0.2]], "image_size": (640, 480)},
        {"coords": "norm1"},
        0.5,
        "norm1 mapped to pixels",
    ),
    (
        "<|box_start|>(100,100),(200,200)<|box_end|>",
        {"boxes": [[100, 100, 200, 200]]},
        {"coords": "norm1000"},
        1.0,
        "Qwen2-VL tokens in 0-1000",
    ),
    (
        ans("[-50, -50, 100, 100]"),
        {"boxes": [[0, 0, 100, 100]], "image_size": (100, 100)},
        {},
        1.0,
        "prediction clipped to the image",
    ),
    (
        ans("[-50, -50, 100, 100]"),
        {"boxes": [[0, 0, 100, 100]], "image_size": (100, 100)},
        {"clip": False},
        100**2 / 150**2,
        "clip off: the part outside the image counts",
    ),
    (
        ans("[0.5, 0.5, 1.5, 1.5]"),
        {"boxes": [[0.5, 0.5, 1.0, 1.0]]},
        {"coords": "norm1"},
        1.0,
        "norm1 clips to the unit square",
    ),
]


@pytest.mark.parametrize(("text", "fields", "params", "expected"), [c[:4] for c in COORDS], ids=[c[4] for c in COORDS])
def test_coordinate_modes(text: str, fields: dict[str, Any], params: dict[str, Any], expected: float) -> None:
    s = one(text, params, **fields)
    assert s.status == "ok", s.details
    assert s.details["iou"] == pytest.approx(expected, abs=1e-12)


def test_norm_modes_with_image_size_measure_distances_in_pixels() -> None:
    """DIoU on a wide image: the centre offset is judged against the image's real shape."""
    fields = {"boxes": [[0.1, 0.1, 0.2, 0.9]]}
    text = ans("[0.3, 0.1, 0.4, 0.9]")
    in_unit_square = one(text, {"coords": "norm1", "metric": "diou"}, **fields)
    on_wide_image = one(text, {"coords": "norm1", "metric": "diou"}, image_size=(2000, 100), **fields)
    in_pixels = one(ans("[600, 10, 800, 90]"), {"metric": "diou"}, boxes=[[200, 10, 400, 90]])
    assert on_wide_image.details["pairs"][0][3] == pytest.approx(in_pixels.details["pairs"][0][3], rel=1e-9)
    assert on_wide_image.details["pairs"][0][3] != pytest.approx(in_unit_square.details["pairs"][0][3], rel=1e-3)


def test_predicted_boxes_in_details_are_in_image_space() -> None:
    s = one(ans("[20, 20, 60, 60]"), boxes=[[0, 0, 10, 10]], image_size=(400, 400), input_size=(200, 200))
    assert s.details["boxes"] == ((40.0, 40.0, 120.0, 120.0),)
    assert s.details["format"] == "list"


# --- shaping modes ----------------------------------------------------------------------------------

HALF = {"completion": ans("[0, 0, 10, 10]"), "boxes": [[0, 0, 10, 5]]}  # IoU exactly 0.5
MODES = [
    ({}, 0.5, "continuous is the IoU"),
    ({"mode": "threshold"}, 1.0, "threshold at the default 0.5: IoU ≥ τ (MedLoc-R1)"),
    ({"mode": "threshold", "strict": True}, 0.0, "strict: IoU > τ (VLM-R1's first release)"),
    ({"mode": "threshold", "tau": 0.3}, 1.0, "MedLoc-R1's starting τ0 = 0.3"),
    ({"mode": "threshold", "tau": 0.8}, 0.0, "MedLoc-R1's target τ = 0.8"),
    ({"mode": "band", "lo": 0.25, "hi": 0.75}, 0.5, "band: halfway between lo and hi"),
    ({"mode": "band", "lo": 0.5, "hi": 0.75}, 0.0, "band: at lo is 0 (Vision-R1 stage 1)"),
    ({"mode": "band", "lo": 0.3, "hi": 0.5}, 1.0, "band: at hi is 1"),
    ({"mode": "band", "lo": 0.5, "hi": 0.5}, 1.0, "band with lo = hi is a threshold"),
    ({"metric": "giou"}, 0.75, "GIoU 0.5 mapped by (g + 1) / 2"),
    ({"metric": "giou", "mode": "threshold", "tau": 0.5}, 1.0, "threshold on the raw GIoU"),
]


@pytest.mark.parametrize(("params", "expected"), [c[:2] for c in MODES], ids=[c[2] for c in MODES])
def test_modes(params: dict[str, Any], expected: float) -> None:
    s = score("iou", [HALF], params)[0]
    assert s.reward == pytest.approx(expected, abs=1e-12)
    assert s.details["iou"] == pytest.approx(0.5), "the raw IoU is reported whatever the mode"


def test_threshold_details_carry_tau() -> None:
    s = score("iou", [HALF], {"mode": "threshold", "tau": 0.45})[0]
    assert s.details["tau"] == 0.45


@pytest.mark.parametrize("metric", METRICS, ids=str)
def test_continuous_reward_is_in_unit_interval_for_far_apart_boxes(metric: str) -> None:
    """Disjoint, differently shaped boxes drive CIoU below −1: the reward still stays in [0, 1]."""
    s = one(ans("[1000, 0, 1001, 500]"), {"metric": metric}, boxes=[[0, 0, 500, 1]])
    assert s.reward is not None and 0.0 <= s.reward <= 1.0
    assert s.details["iou"] == 0.0


def test_band_params_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="lo must not exceed hi"):
        score("iou", [HALF], {"mode": "band", "lo": 0.8, "hi": 0.5})


def test_unknown_params_are_an_error() -> None:
    with pytest.raises(ValidationError):
        score("iou", [HALF], {"threshold": 0.5})


# --- no boxes, missing boxes ---------------------------------------------------------------------

EMPTY = [
    (ans("no finding"), [], 1.0, "healthy film, nothing predicted: correct"),
    (ans("[10, 10, 20, 20]"), [], 0.0, "healthy film, a box predicted: a false positive"),
    (ans("no finding"), [[10, 10, 20, 20]], 0.0, "a lesion, nothing predicted: a miss"),
]


@pytest.mark.parametrize(("text", "boxes", "expected"), [c[:3] for c in EMPTY], ids=[c[3] for c in EMPTY])
def test_explicitly_empty_and_missed(text: str, boxes: list[list[float]], expected: float) -> None:
    s = one(text, boxes=boxes)
    assert s.status == "ok"
    assert s.reward == expected
    assert s.details["iou"] == expected
    assert s.details["rule"]


def test_missing_prediction_can_abstain() -> None:
    s = one(ans("no finding"), {"missing": "unscorable"}, boxes=[[10, 10, 20, 20]])
    assert s.reward is None
    assert s.details["reason"] == "no box found in the answer"


# --- refusals: unscorable with the reason ------------------------------------------------------------

REFUSALS = [
    (ans("[1, 2, 3, 4]"), {}, {}, "no reference boxes: item.boxes is missing", "reference missing"),
    (ans("[50, 10, 20, 40]"), {"boxes": [[0, 0, 1, 1]]}, {}, "invalid box: x2 < x1", "reversed prediction"),
    (ans("[10, 50, 20, 40]"), {"boxes": [[0, 0, 1, 1]]}, {}, "invalid box: y2 < y1", "reversed in y"),
    (ans("[NaN, 0, 1, 1]"), {"boxes": [[0, 0, 1, 1]]}, {}, "invalid box: non-finite coordinate", "NaN"),
    (ans("[0, 0, inf, 1]"), {"boxes": [[0, 0, 1, 1]]}, {}, "invalid box: non-finite coordinate", "inf"),
    (
        ans("[0, 0, 1, 1]"),
        {"boxes": [[5, 5, 1, 1]]},
        {},
        "invalid reference box: x2 <= x1 (no area)",
        "reversed reference",
    ),
    (
        ans("[0, 0, 1, 1]"),
        {"boxes": [[0, 0, 0, 0]]},
        {},
        "invalid reference box: x2 <= x1 (no area)",
        "zero-area reference",
    ),
    (
        ans("[0, 0, 1, 1]"),
        {"boxes": [[0, 0, 1, float("nan")]]},
        {},
        "invalid reference box: non-finite coordinate",
        "NaN reference",
    ),
    (
        ans("[0, 0, 1, 1]"),
        {"boxes": [[0, 0, 1]]},
        {},
        "invalid reference box: needs 4 coordinates [x1, y1, x2, y2]",
        "three-number reference",
    ),
    (
        ans("[0, 0, 1, 1]"),
        {"boxes": [[0, 0, 1], [1, 2, 3, 4, 5]]},
        {},
        "invalid reference box: needs 4 coordinates [x1, y1, x2, y2]",
        "3 + 5 numbers: eight, but not two boxes",
    ),
    (
        ans("[0, 0, 1, 1]"),
        {"boxes": [[0, 0, 1, 1]], "image_size": (0, 0)},
        {},
        "invalid image_size: each side must be in 1..10000000",
        "zero image size",
    ),
    (
        ans("[0, 0, 1, 1]"),
        {"boxes": [[0, 0, 1, 1]], "input_size": (100, 100)},
        {},
        "input_size without image_size: cannot map model-input pixels to the image",
        "input size alone",
    ),
    (
        ans(" ".join(["[0, 0, 1, 1]"] * 4)),
        {"boxes": [[0, 0, 1, 1]]},
        {"max_boxes": 3},
        "too many boxes: 4 > max_boxes=3",
        "box spam beyond the cap",
    ),
    (
        ans("[0, 0, 1, 1]"),
        {"boxes": [[0, 0, 1, 1]] * 4},
        {"max_boxes": 3},
        "too many reference boxes: 4 > max_boxes=3",
        "reference beyond the cap",
    ),
    (
        ans("[0, 0, 1, 1]"),
        {"polygons": [[[0, 0], [1, 0], [1, 1]]]},
        {"metric": "ciou"},
        "metric 'ciou' is defined for boxes, not polygons (use iou or giou)",
        "CIoU on a polygon",
    ),
]


@pytest.mark.parametrize(
    ("text", "fields", "params", "reason"), [c[:4] for c in REFUSALS], ids=[c[4] for c in REFUSALS]
)
def test_refusals_say_why(text: str, fields: dict[str, Any], params: dict[str, Any], reason: str) -> None:
    s = one(text, params, **fields)
    assert s.status == "unscorable"
    assert s.reward is None
    assert s.details["reason"] == reason


@pytest.mark.parametrize("text", [c[0] for c in REFUSALS[1:5]], ids=[c[4] for c in REFUSALS[1:5]])
def test_batch_validation_agrees_with_parse_boxes(text: str) -> None:
    """The reward validates the whole batch in numpy; it must say what `parse_boxes` says."""
    assert one(text, boxes=[[0, 0, 1, 1]]).details["reason"] == parse_boxes(text).error


# --- several boxes: Hungarian matching ----------------------------------------------------------------

MULTI = [
    ("[0,0,10,10] [20,20,30,30]", [[20, 20, 30, 30], [0, 0, 10, 10]], 1.0, "two lesions, found in the other order"),
    ("[0,0,10,10]", [[0, 0, 10, 10], [20, 20, 30, 30]], 0.5, "one of two lesions missed"),
    ("[0,0,10,10] [50,50,60,60] [70,70,80,80] [90,90,95,95]", [[0, 0, 10, 10]], 0.25, "one hit, three spam"),
    ("[0,0,10,10] [0,0,10,10]", [[0, 0, 10, 10]], 0.5, "a duplicate box is spam"),
]


@pytest.mark.parametrize(("boxes_text", "ref", "expected"), [c[:3] for c in MULTI], ids=[c[3] for c in MULTI])
def test_multi_box(boxes_text: str, ref: list[list[float]], expected: float) -> None:
    s = one(ans(boxes_text), boxes=ref)
    assert s.reward == pytest.approx(expected)
    assert len(s.details["pairs"]) == min(s.details["n_pred"], s.details["n_ref"])


def _brute_force(preds: list[tuple[float, ...]], refs: list[tuple[float, ...]]) -> float:
    """Best Σ IoU over every one-to-one assignment, / max(n_pred, n_ref)."""
    n, m = len(preds), len(refs)
    best = 0.0
    if n <= m:
        for perm in itertools.permutations(range(m), n):
            best = max(best, sum(naive_metric(preds[i], refs[j], "iou")[0] for i, j in enumerate(perm)))
    else:
        for perm in itertools.permutations(range(n), m):
            best = max(best, sum(naive_metric(preds[i], refs[j], "iou")[0] for j, i in enumerate(perm)))
    return best / max(n, m)


def _random_box(rng: random.Random) -> tuple[float, ...]:
    x, y = rng.uniform(0, 80), rng.uniform(0, 80)
    return (round(x, 2), round(y, 2), round(x + rng.uniform(1, 40), 2), round(y + rng.uniform(1, 40), 2))


@pytest.mark.parametrize("seed", range(60), ids=lambda s: f"seed{s}")
def test_hungarian_equals_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    preds = [_random_box(rng) for _ in range(rng.randint(1, 5))]
    refs = [_random_box(rng) for _ in range(rng.randint(1, 5))]
    text = ans(" ".join(str(list(b)) for b in preds))
    s = one(text, boxes=[list(b) for b in refs])
    want = _brute_force(preds, refs)
    assert s.details["iou"] == pytest.approx(want, abs=1e-12)
    assert s.reward == pytest.approx(want, abs=1e-12)


# --- batching never changes a result --------------------------------------------------------------------


def _mixed_items(rng: random.Random, n: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for k in range(n):
        preds = [_random_box(rng) for _ in range(rng.choice([0, 1, 1, 1, 2, 3]))]
        refs = [list(_random_box(rng)) for _ in range(rng.choice([0, 1, 1, 1, 2]))]
        item: dict[str, Any] = {"completion": ans(" ".join(str(list(b)) for b in preds)), "boxes": refs}
        if k % 3 == 0:
            item["image_size"] = (120, 100)
        if k % 6 == 0:
            item["input_size"] = (60, 50)
        if k % 11 == 0:
            item["completion"] = ans("[5, 5, 1, 1]")
        items.append(item)
    return items


@pytest.mark.parametrize(
    "params",
    [{"metric": m} for m in METRICS] + [{"mode": "threshold", "tau": 0.4}, {"mode": "band", "metric": "ciou"}],
    ids=lambda p: "-".join(str(v) for v in p.values()),
)
@pytest.mark.parametrize("size", [40, SMALL_BATCH + 20], ids=["small-batch", "numpy-batch"])
def test_batch_equals_singles(params: dict[str, Any], size: int) -> None:
    """Below SMALL_BATCH one-box items go one by one and the rest as a batch, in their places;
    above it everything goes through numpy. Either way each item scores as if alone."""
    items = _mixed_items(random.Random(7), size)
    batch = score("iou", items, params)
    for item, got in zip(items, batch, strict=True):
        alone = score("iou", [item], params)[0]
        assert got.status == alone.status
        assert got.reward == alone.reward or (got.reward is None and alone.reward is None)
        assert got.details == alone.details
        if got.reward is not None:
            assert math.isfinite(got.reward) and 0.0 <= got.reward <= 1.0


def test_box_counts_that_only_add_up_are_not_single_boxes() -> None:
    """Two predictions on one item and none on the other total one each, but are not 1×1 pairs."""
    items = [
        {"completion": ans("[0, 0, 10, 10] [0, 0, 10, 10]"), "boxes": [[0, 0, 10, 10]]},
        {"completion": ans("nothing"), "boxes": [[0, 0, 10, 10]]},
    ]
    first, second = score("iou", items)
    assert first.reward == 0.5 and first.details["n_pred"] == 2
    assert second.reward == 0.0 and second.details["rule"] == "no box found"


_COORD_TEXT = st.one_of(
    st.integers(-50, 1200).map(str),
    st.floats(-1e3, 1e4, allow_nan=False).map(repr),
    st.sampled_from(["0", "-0", "1e9", "-1e9", "1.5e9", "nan", "inf", "-Infinity", "1e999"]),
)
# Either side of the image's edges: 640 × 480, half that as model input, 1000 per mille.
_EDGE_X = st.sampled_from(["-1", "-0", "0", "0.5", "319", "320", "321", "639", "640", "641", "999", "1000", "1001"])
_EDGE_Y = st.sampled_from(["-1", "-0", "0", "0.5", "239", "240", "241", "479", "480", "481", "999", "1000", "1001"])
_BOX_TEXT = st.one_of(st.lists(_COORD_TEXT, min_size=4, max_size=4), st.tuples(_EDGE_X, _EDGE_Y, _EDGE_X, _EDGE_Y))


@settings(max_examples=400, deadline=None)
@example(  # found by CI: a degenerate box at -0.0 kept its sign on one path, and CIoU's atan2 saw it
    coords=("-1", "-1", "-1", "-0"),
    ref=[10.0, 20.0, 300.0, 200.0],
    sizes={"image_size": (640, 480)},
    params={"metric": "ciou"},
)
@example(coords=("-0", "5", "10", "20"), ref=[0.0, 0.0, 1.0, 1.0], sizes={"image_size": (640, 480)}, params={})
@given(
    coords=_BOX_TEXT,
    # The last reference box has no area: both paths must refuse it alike.
    ref=st.sampled_from(
        [[10.0, 20.0, 300.0, 200.0], [0.0, 0.0, 1.0, 1.0], [-5.0, -5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 9.0]]
    ),
    sizes=st.sampled_from([{}, {"image_size": (640, 480)}, {"image_size": (640, 480), "input_size": (320, 240)}]),
    params=st.sampled_from(
        [{}, {"clip": False}, {"coords": "norm1000"}, {"coords": "norm1"}, {"metric": "ciou"}, {"mode": "threshold"}]
    ),
)
def test_per_sample_path_equals_the_batch_path(
    coords: Sequence[str], ref: list[float], sizes: dict[str, Any], params: dict[str, Any]
) -> None:
    """A one-item call takes the plain-float shortcut; inside a batch of SMALL_BATCH the same item
    goes through numpy. Boxes inside, across and outside the image, degenerate, out of range or not finite:
    the two must agree exactly, reasons included."""
    item = {"completion": ans(f"[{', '.join(coords)}]"), "boxes": [ref], **sizes}
    alone = score("iou", [item], params)[0]
    batched = score("iou", [item] * SMALL_BATCH, params)[0]
    assert (alone.reward, alone.status, alone.details) == (batched.reward, batched.status, batched.details)


# --- garbage never raises ------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "[", "]", "(", ")", ",", " ", "\n", "0", "7", "12.5", "-3", "1e9", "1e999", "nan", "Infinity", ".", "e",
        "<answer>", "</answer>", "<think>", "</think>", "<|box_start|>", "<|box_end|>", '{"bbox_2d": ',
        "```json", "```", "[[", "]]", "\x00",
    ]
)  # fmt: skip
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "boxes": st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5), max_size=4),
        "polygons": st.lists(st.lists(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=2), max_size=5), max_size=3),
        "image_size": st.tuples(st.integers(-5, 3000), st.integers(-5, 3000)),
        "input_size": st.tuples(st.integers(-5, 3000), st.integers(-5, 3000)),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.lists(_PIECES, max_size=40).map("".join), min_size=1, max_size=8),
    fields=_FIELDS,
    params=st.sampled_from([{}, {"metric": "ciou"}, {"coords": "norm1000", "mode": "band"}, {"metric": "giou"}]),
)
def test_garbage_is_scored_or_refused_never_an_error(
    texts: list[str], fields: dict[str, Any], params: dict[str, Any]
) -> None:
    out = score("iou", [{"completion": t, **fields} for t in texts], params)
    for s in out:
        assert s.status in ("ok", "unscorable"), s.details
        if s.reward is None:
            assert s.details["reason"]
        else:
            assert math.isfinite(s.reward) and 0.0 <= s.reward <= 1.0


SIZES = [
    ((1000, 800), {}, (1008, 812), "VLM-R1's pixel limits: each side rounded to 28"),
    ((10, 10), {}, (56, 56), "a tiny image grows to min_pixels = 56²"),
    ((2048, 1536), {"max_pixels": 1003520}, (1148, 840), "transformers' default max_pixels shrinks it"),
]


@pytest.mark.parametrize(("size", "limits", "expected"), [c[:3] for c in SIZES], ids=[c[3] for c in SIZES])
def test_smart_resize(size: tuple[int, int], limits: dict[str, int], expected: tuple[int, int]) -> None:
    w, h = smart_resize(*size, **limits)
    assert (w, h) == expected
    assert w % 28 == 0 and h % 28 == 0
    assert input_size_from_grid((1, h // 14, w // 14)) == (w, h)


HOSTILE = [
    ("[1, 2, 3, 4] " * 8_000, "8k boxes: refused by max_boxes, after one linear pass"),
    ("[" * 50_000 + "]" * 50_000, "100k characters of nesting"),
    ("<answer>" + "[1,2,3," * 14_000, "14k near-miss boxes in an unterminated answer"),
    ("<|box_start|>(" * 7_000, "unterminated Qwen2-VL boxes"),
]


@pytest.mark.parametrize("text", [c[0] for c in HOSTILE], ids=[c[1] for c in HOSTILE])
def test_hostile_completions_do_not_hang_and_are_refused_or_scored(text: str) -> None:
    with finishes_without_hanging():
        s = one(text, boxes=[[0, 0, 10, 10]])
    assert s.status in ("ok", "unscorable")
    if s.status == "unscorable":
        assert s.details["reason"].startswith("too many boxes")


def test_qwen2vl_per_mille_boxes_map_to_pixels() -> None:
    """Qwen2-VL writes 0-1000 of the image: (250,500),(500,750) on 800×400 is [200, 200, 400, 300]."""
    s = one(
        "<|box_start|>(250,500),(500,750)<|box_end|>",
        {"coords": "norm1000"},
        boxes=[[250, 500, 500, 750]],
        image_size=(800, 400),
    )
    assert s.reward == 1.0
    assert s.details["boxes"] == ((200.0, 200.0, 400.0, 300.0),)
    assert s.details["format"] == "qwen2vl"


# ref_coords: the references in another space than the predictions (a 0-1000 policy, pixel references).
REF_COORDS = [
    # (completion box, reference box, fields, params, expected IoU, note)
    (
        [100, 200, 300, 400],
        [200, 200, 600, 400],
        {"image_size": (2000, 1000)},
        {"coords": "norm1000", "ref_coords": "abs"},
        1.0,
        "0-1000 against pixels",
    ),
    (
        [100, 200, 300, 400],
        [200, 200, 600, 400],
        {"image_size": (2000, 1000)},
        {"coords": "norm1000"},
        0.2,
        "without ref_coords both read as 0-1000: only a partial overlap",
    ),
    (
        [0.1, 0.2, 0.3, 0.4],
        [100, 200, 300, 400],
        {},
        {"coords": "norm1", "ref_coords": "norm1000"},
        1.0,
        "0-1 against 0-1000 needs no image size",
    ),
    (
        [200, 200, 600, 400],
        [100, 200, 300, 400],
        {"image_size": (2000, 1000)},
        {"coords": "abs", "ref_coords": "norm1000"},
        1.0,
        "pixels against 0-1000",
    ),
    (
        [100, 100, 300, 200],
        [200, 200, 600, 400],
        {"image_size": (2000, 1000), "input_size": (1000, 500)},
        {"coords": "abs", "ref_coords": "abs"},
        1.0,
        "same mode: resize as before",
    ),
    (
        [100, 200, 300, 400],
        [0.1, 0.2, 0.3, 0.4],
        {"image_size": (2000, 1000)},
        {"coords": "norm1000", "ref_coords": "norm1"},
        1.0,
        "0-1000 against 0-1 with a size",
    ),
]


@pytest.mark.parametrize(
    ("box", "ref", "fields", "params", "expected", "note"), REF_COORDS, ids=[r[-1] for r in REF_COORDS]
)
def test_ref_coords(
    box: list[float], ref: list[float], fields: dict[str, Any], params: dict[str, Any], expected: float, note: str
) -> None:
    item = {"completion": f"<answer>{box}</answer>", "boxes": [ref], **fields}
    s = score("iou", [item], params)[0]
    assert s.reward == pytest.approx(expected, abs=1e-9), note
    # the batch path (many items) agrees with the one-item path
    assert [x.reward for x in score("iou", [item] * 3, params)] == pytest.approx([expected] * 3, abs=1e-9)


def test_ref_coords_mixing_pixels_without_image_size_says_what_is_missing() -> None:
    item = {"completion": "<answer>[100, 200, 300, 400]</answer>", "boxes": [[200, 200, 600, 400]]}
    s = score("iou", [item], {"coords": "norm1000", "ref_coords": "abs"})[0]
    assert s.reward is None and s.status == "unscorable"
    assert "image_size" in s.details["reason"] and s.details["invalid"] == "image_size"


def test_ref_coords_polygons() -> None:
    item = {
        "completion": "<answer>[100, 200, 300, 400]</answer>",
        "polygons": [[[200, 200], [600, 200], [600, 400], [200, 400]]],
        "image_size": (2000, 1000),
    }
    s = score("iou", [item], {"coords": "norm1000", "ref_coords": "abs"})[0]
    assert s.reward == pytest.approx(1.0)

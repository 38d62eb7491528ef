"""Polygon IoU (shapely) through the ``iou`` reward: irregular lesion outlines."""

from __future__ import annotations

from typing import Any

import pytest

from scorers import Score, score
from scorers.polygons import make_polygon, polygon_metric_matrix

Vertices = list[list[float]]

SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10]]
TRIANGLE = [[0, 0], [10, 0], [0, 10]]
BOW_TIE = [[0, 0], [10, 10], [10, 0], [0, 10]]  # self-intersecting: two triangles of area 25


def one(completion: str, polygons: list[Vertices], params: dict[str, Any] | None = None, **fields: Any) -> Score:
    return score("iou", [{"completion": completion, "polygons": polygons, **fields}], params)[0]


def naive_raster_iou(a: Vertices, b: Vertices, step: float = 0.1, extent: float = 20.0) -> float:
    """IoU by counting grid points inside each outline (even-odd ray casting): slow, obvious, approximate."""

    def inside(poly: Vertices, x: float, y: float) -> bool:
        hit = False
        for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                hit = not hit
        return hit

    inter = union = 0
    n = int(extent / step)
    for i in range(n):
        for j in range(n):
            x, y = (i + 0.5) * step, (j + 0.5) * step
            ia, ib = inside(a, x, y), inside(b, x, y)
            inter += ia and ib
            union += ia or ib
    return inter / union


PAIRS = [
    (SQUARE, [[5, 0], [15, 0], [15, 10], [5, 10]], "square shifted by half"),
    (SQUARE, TRIANGLE, "square over its own half"),
    ([[2, 1], [12, 3], [9, 11], [1, 8]], [[4, 4], [16, 5], [14, 15], [3, 12]], "two irregular quadrilaterals"),
    (BOW_TIE, SQUARE, "a bow-tie counts the area it encloses"),
]


@pytest.mark.parametrize(("pred", "ref"), [c[:2] for c in PAIRS], ids=[c[2] for c in PAIRS])
def test_polygon_iou_matches_rasterised_reference(pred: Vertices, ref: Vertices) -> None:
    p, g = make_polygon(pred), make_polygon(ref)
    assert not isinstance(p, str) and not isinstance(g, str)
    iou, _ = polygon_metric_matrix([p], [g])
    assert float(iou[0, 0]) == pytest.approx(naive_raster_iou(pred, ref), abs=0.02)


REWARD_CASES = [
    (f"<answer>{SQUARE}</answer>", [SQUARE], {}, 1.0, "the same outline"),
    (f"<answer>{TRIANGLE}</answer>", [SQUARE], {}, 0.5, "half the lesion outlined"),
    ("<answer>[0, 0, 10, 10]</answer>", [TRIANGLE], {}, 0.5, "a box read as a rectangle against an outline"),
    (f"<answer>{SQUARE}</answer>", [BOW_TIE], {}, 0.5, "self-intersecting reference repaired"),
    (
        f"<answer>{SQUARE} {[[20, 20], [30, 20], [30, 30]]}</answer>",
        [[[20, 20], [30, 20], [30, 30]], SQUARE],
        {},
        1.0,
        "two outlines matched in the other order",
    ),
    (f"<answer>{SQUARE}</answer>", [SQUARE, [[20, 20], [30, 20], [30, 30]]], {}, 0.5, "one of two lesions missed"),
    (
        "<answer>[[0, 0], [0.1, 0], [0.1, 0.1], [0, 0.1]]</answer>",
        [[[0, 0], [100, 0], [100, 100], [0, 100]]],
        {"coords": "norm1"},
        1.0,
        "norm1 prediction, norm1 reference, image size maps both",
    ),
    ("<answer>nothing seen</answer>", [], {}, 1.0, "nothing to outline, nothing outlined"),
    ("<answer>nothing seen</answer>", [SQUARE], {}, 0.0, "a lesion left unoutlined"),
]


@pytest.mark.parametrize(
    ("text", "refs", "params", "expected"), [c[:4] for c in REWARD_CASES], ids=[c[4] for c in REWARD_CASES]
)
def test_polygon_reward(text: str, refs: list[Vertices], params: dict[str, Any], expected: float) -> None:
    fields = {"image_size": (1000, 1000)} if params.get("coords") == "norm1" else {}
    if params.get("coords") == "norm1":
        refs = [[[x / 1000, y / 1000] for x, y in poly] for poly in refs]
    s = one(text, refs, params, **fields)
    assert s.status == "ok", s.details
    assert s.reward == pytest.approx(expected, abs=1e-9)
    assert s.details["iou"] == pytest.approx(expected, abs=1e-9)


def test_polygon_giou_ranks_disjoint_outlines_by_distance() -> None:
    ref = [TRIANGLE]
    near = one("<answer>[[11, 0], [15, 0], [11, 4]]</answer>", ref, {"metric": "giou"})
    far = one("<answer>[[41, 0], [45, 0], [41, 4]]</answer>", ref, {"metric": "giou"})
    assert near.details["iou"] == far.details["iou"] == 0.0
    assert near.reward is not None and far.reward is not None
    assert 0.0 <= far.reward < near.reward < 0.5


REFUSALS = [
    ([[[0, 0], [1, 1]]], "invalid reference polygon: needs at least 3 vertices", "a segment"),
    ([[[0, 0], [1, 1], [2, 2]]], "invalid reference polygon: no area", "collinear vertices"),
    ([[[0, 0], [1, float("nan")], [2, 0]]], "invalid reference polygon: non-finite vertex", "NaN vertex"),
]


@pytest.mark.parametrize(("refs", "reason"), [c[:2] for c in REFUSALS], ids=[c[2] for c in REFUSALS])
def test_bad_reference_polygons_are_unscorable(refs: list[Vertices], reason: str) -> None:
    s = one(f"<answer>{SQUARE}</answer>", refs)
    assert s.reward is None
    assert s.details["reason"] == reason


def test_boxes_take_precedence_over_polygons() -> None:
    s = score(
        "iou", [{"completion": "<answer>[0, 0, 10, 10]</answer>", "boxes": [[0, 0, 10, 10]], "polygons": [TRIANGLE]}]
    )[0]
    assert s.reward == 1.0

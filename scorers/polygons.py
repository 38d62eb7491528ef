"""Polygon IoU with shapely: irregular lesion outlines against predicted polygons or boxes.

Reference polygons come from ``Item.polygons`` (each a list of ``[x, y]`` vertices, in the
coordinate mode of the call, mapped like reference boxes). Predictions are the polygons the
answer writes as ``[[x, y], [x, y], [x, y], ...]``; an answer with boxes only is read as
rectangles (box-vs-mask scoring, as EasyR1's medical reward does).
Self-intersecting outlines (a bow-tie) are repaired with shapely's ``make_valid`` so that an
area is always the area actually enclosed.

Metrics: ``iou`` = |P ∩ G| / |P ∪ G|; ``giou`` with the convex hull of the union as the
enclosing shape (the GIoU paper's "smallest enclosing convex object"). DIoU and CIoU are
defined through box centres and aspect ratios, so polygon items abstain under them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from scorers.box_metrics import Metric
from scorers.boxes import MAX_ABS_COORD, box_error, find_box_tokens, parse_polygons
from scorers.coords import CoordMode, frame_for
from scorers.matching import match
from scorers.types import Item, Score

Shape = Callable[[np.ndarray], np.ndarray]

# Repairing a self-intersecting outline costs about the cube of its vertices in the worst case
# (make_valid over a star whose every edge crosses every other: 16 vertices ≈ 50 ms, 48 ≈ 3 s,
# 250 ≈ 140 s, measured on 2 busy cores): bow-ties and small twists are repaired, a larger
# self-intersecting outline is unscorable with the reason. Simple polygons of any size are fine.
MAX_REPAIR_VERTICES = 16
# ... and at most this many outlines per item are repaired (an item may carry 100 polygons).
MAX_REPAIRS_PER_ITEM = 4


def make_polygon(vertices: Sequence[Sequence[float]], repairs: list[int] | None = None) -> BaseGeometry | str:
    """A valid shapely geometry from ``[[x, y], ...]``, or the reason there is none.

    >>> make_polygon([[0, 0], [2, 0], [2, 2], [0, 2]]).area
    4.0
    >>> round(make_polygon([[0, 0], [2, 2], [2, 0], [0, 2]]).area, 3)  # bow-tie: two triangles
    2.0
    >>> make_polygon([[0, 0], [1, 1]])
    'invalid polygon: needs at least 3 vertices'
    """
    if len(vertices) < 3:
        return "invalid polygon: needs at least 3 vertices"
    if any(len(v) != 2 for v in vertices):
        return "invalid polygon: each vertex is [x, y]"
    arr = np.asarray(vertices, dtype=np.float64)
    if not np.isfinite(arr).all():
        return "invalid polygon: non-finite vertex"
    if np.abs(arr).max() > MAX_ABS_COORD:
        return f"invalid polygon: coordinate beyond ±{MAX_ABS_COORD:g}"
    geom: BaseGeometry = Polygon(arr)
    if not geom.is_valid:
        if len(vertices) > MAX_REPAIR_VERTICES:
            return (
                f"invalid polygon: self-intersecting outline of {len(vertices)} vertices (only outlines of up to "
                f"{MAX_REPAIR_VERTICES} vertices are repaired; send a simple polygon)"
            )
        if repairs is not None:  # ``repairs``: the item's remaining repair budget, shared by its polygons
            if repairs[0] <= 0:
                return f"invalid polygon: more than {MAX_REPAIRS_PER_ITEM} self-intersecting outlines in one item"
            repairs[0] -= 1
        geom = shapely.make_valid(geom)
    # make_valid can leave stray lines or points next to the polygons; only areas count.
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        geom = shapely.union_all([g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")])
    return geom


def polygon_metric_matrix(
    pred: Sequence[BaseGeometry], ref: Sequence[BaseGeometry], metric: Metric = "iou"
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, M)`` IoU and metric matrices between predicted and reference geometries.

    >>> a = make_polygon([[0, 0], [2, 0], [2, 2], [0, 2]])
    >>> b = make_polygon([[1, 0], [3, 0], [3, 2], [1, 2]])
    >>> iou, giou = polygon_metric_matrix([a], [b], "giou")
    >>> round(float(iou[0, 0]), 4), round(float(giou[0, 0]), 4)
    (0.3333, 0.3333)
    """
    if metric not in ("iou", "giou"):
        raise ValueError(f"metric {metric!r} is defined for boxes, not polygons")
    pa = np.asarray(pred, dtype=object)[:, None]
    ga = np.asarray(ref, dtype=object)[None, :]
    inter = shapely.area(shapely.intersection(pa, ga))
    union_geom = shapely.union(pa, ga)
    union = shapely.area(union_geom)
    iou = inter / union
    if metric == "iou":
        return iou, iou
    hull = shapely.area(shapely.convex_hull(union_geom))
    return iou, iou - (hull - union) / hull


def score_polygon_item(
    item: Item,
    coords: CoordMode,
    metric: Metric,
    max_boxes: int,
    clip: bool,
    missing: str,
    shape: Shape,
    ref_coords: CoordMode | None = None,
) -> Score:
    """Score one item whose reference is ``item.polygons`` (the ``iou`` reward's polygon way)."""
    if metric not in ("iou", "giou"):
        return Score.unscorable(f"metric {metric!r} is defined for boxes, not polygons (use iou or giou)")
    refs_raw = item.polygons or []
    if len(refs_raw) > max_boxes:
        return Score.unscorable(f"too many reference polygons: {len(refs_raw)} > max_boxes={max_boxes}")
    frame = frame_for(coords, item.image_size, item.input_size, ref_coords)
    if isinstance(frame, str):
        return Score.invalid(frame, "input_size" if "input_size" in frame else "image_size")
    refs: list[BaseGeometry] = []
    repairs = [MAX_REPAIRS_PER_ITEM]
    for verts in refs_raw:
        g = make_polygon(verts, repairs)
        if isinstance(g, str):
            return Score.invalid(g.replace("invalid polygon", "invalid reference polygon"), "polygons")
        g = shapely.affinity.scale(g, frame.ref_sx, frame.ref_sy, origin=(0, 0))
        if g.area <= 0:
            return Score.invalid("invalid reference polygon: no area", "polygons")
        refs.append(g)

    parsed = parse_polygons(item.completion, max_polygons=max_boxes)
    if isinstance(parsed, str):
        return Score.unscorable(parsed)
    preds: list[BaseGeometry] = []
    fmt = "polygon"
    if parsed:
        for pred_verts in parsed:
            g = make_polygon(pred_verts, repairs)
            if isinstance(g, str):
                return Score.unscorable(g)
            preds.append(g)
    else:
        found, fmt_found = find_box_tokens(item.completion)
        fmt = fmt_found or "none"
        if len(found) > max_boxes:
            return Score.unscorable(f"too many boxes: {len(found)} > max_boxes={max_boxes}")
        for tok in found:
            x1, y1, x2, y2 = (float(v) for v in tok)
            err = box_error(x1, y1, x2, y2)
            if err is not None:
                return Score.unscorable(err, format=fmt)
            preds.append(shapely.box(x1, y1, x2, y2))
    preds = [shapely.affinity.scale(g, frame.pred_sx, frame.pred_sy, origin=(0, 0)) for g in preds]
    if clip and frame.bounds is not None and preds:
        image = shapely.box(0.0, 0.0, *frame.bounds)
        preds = [g.intersection(image) for g in preds]

    n_pred, n_ref = len(preds), len(refs)
    if n_ref == 0:
        r = 1.0 if n_pred == 0 else 0.0
        rule = "no reference polygons and none predicted" if n_pred == 0 else "shapes predicted where there are none"
        return Score.ok(r, iou=r, n_pred=n_pred, n_ref=0, rule=rule, format=fmt)
    if n_pred == 0:
        if missing == "unscorable":
            return Score.unscorable("no polygon or box found in the answer")
        return Score.ok(0.0, iou=0.0, n_pred=0, n_ref=n_ref, rule="no polygon or box found", format=None)
    iou, value = polygon_metric_matrix(preds, refs, metric)
    rows, cols = match(value)
    denom = max(n_pred, n_ref)
    shaped = shape(value[rows, cols])
    matched = zip(rows.tolist(), cols.tolist(), strict=True)
    pairs = tuple((i, j, float(iou[i, j]), float(value[i, j])) for i, j in matched)
    return Score.ok(
        float(shaped.sum()) / denom,
        iou=float(iou[rows, cols].sum()) / denom,
        n_pred=n_pred,
        n_ref=n_ref,
        pairs=pairs,
        format=fmt,
    )

"""IoU, GIoU, DIoU and CIoU over numpy arrays of ``x1, y1, x2, y2`` boxes, vectorised.

The formulas are torchvision's (``torchvision/ops/boxes.py``), on a
continuous plane (no "+1 pixel" convention):

- IoU  = I / U
- GIoU = IoU − (C − U) / C, with C the area of the smallest enclosing box
- DIoU = IoU − ρ² / (c² + eps), ρ the centre distance, c the enclosing box's diagonal
- CIoU = DIoU − α·v, v = (4/π²)(atan(w_g/h_g) − atan(w_p/h_p))², α = v / (1 − IoU + v + eps)

IoU lies in [0, 1]; GIoU and DIoU in (−1, 1]; CIoU in [−1.5, 1] (its aspect penalty α·v
reaches 0.5 when disjoint boxes differ in shape). The arctangent of a width over a height is
taken as ``arctan2(w, h)``, equal for h > 0 and defined (π/2) for a zero-height box.

Callers guarantee that every pair has a positive union (the reference box has a positive
area), so no division here is by zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

Metric = Literal["iou", "giou", "diou", "ciou"]
METRICS: tuple[Metric, ...] = ("iou", "giou", "diou", "ciou")
FloatArray = npt.NDArray[np.float64]

# torchvision distance_box_iou / complete_box_iou: eps=1e-7 added to c² and to α's denominator.
EPS = 1e-7
_FOUR_OVER_PI2 = 4.0 / (math.pi**2)


class _Ops(NamedTuple):
    """The three non-arithmetic operations the formulas need, for arrays or for plain floats."""

    maximum: Callable[[Any, Any], Any]
    minimum: Callable[[Any, Any], Any]
    atan2: Callable[[Any, Any], Any]


_ARRAY_OPS = _Ops(np.maximum, np.minimum, np.arctan2)
# numpy's vectorised arctan2 and libm's atan2 differ in the last bit for ~5% of inputs; the float
# path calls numpy's for one value too, so a batch of one scores exactly like a big batch.
_FLOAT_OPS = _Ops(max, min, lambda y, x: float(np.arctan2(y, x)))


def _metric(
    px1: Any, py1: Any, px2: Any, py2: Any, gx1: Any, gy1: Any, gx2: Any, gy2: Any, metric: Metric, ops: _Ops
) -> tuple[Any, Any]:
    """The formulas, written once for numpy arrays (batches) and plain floats (a batch of one)."""
    pw = px2 - px1
    ph = py2 - py1
    gw = gx2 - gx1
    gh = gy2 - gy1
    iw = ops.maximum(ops.minimum(px2, gx2) - ops.maximum(px1, gx1), 0.0)
    ih = ops.maximum(ops.minimum(py2, gy2) - ops.maximum(py1, gy1), 0.0)
    inter = iw * ih
    union = pw * ph + gw * gh - inter
    iou = inter / union
    if metric == "iou":
        return iou, iou
    cw = ops.maximum(px2, gx2) - ops.minimum(px1, gx1)
    ch = ops.maximum(py2, gy2) - ops.minimum(py1, gy1)
    if metric == "giou":
        area_c = cw * ch
        return iou, iou - (area_c - union) / area_c
    diag2 = cw * cw + ch * ch + EPS
    dx = (px1 + px2) / 2 - (gx1 + gx2) / 2
    dy = (py1 + py2) / 2 - (gy1 + gy2) / 2
    diou = iou - (dx * dx + dy * dy) / diag2
    if metric == "diou":
        return iou, diou
    if metric == "ciou":
        # d * d, not d ** 2: Python's float pow and numpy's square differ in the last bit.
        d = ops.atan2(gw, gh) - ops.atan2(pw, ph)
        v = _FOUR_OVER_PI2 * (d * d)
        alpha = v / (1.0 - iou + v + EPS)
        return iou, diou - alpha * v
    raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")


def paired_metric(pred: FloatArray, ref: FloatArray, metric: Metric = "iou") -> tuple[FloatArray, FloatArray]:
    """IoU and the chosen metric for boxes paired along the leading axes (broadcasting).

    ``pred`` and ``ref`` are ``(..., 4)`` arrays that broadcast together; ``(N, 4)`` with
    ``(N, 4)`` gives ``N`` paired values, ``(N, 1, 4)`` with ``(1, M, 4)`` an ``(N, M)`` matrix.
    Returns ``(iou, value)``; ``value is iou`` for ``metric="iou"``.

    >>> iou, giou = paired_metric(np.array([[0.0, 0, 2, 2]]), np.array([[1.0, 1, 3, 3]]), "giou")
    >>> round(float(iou[0]), 4), round(float(giou[0]), 4)
    (0.1429, -0.0794)
    """
    cols = (pred[..., 0], pred[..., 1], pred[..., 2], pred[..., 3], ref[..., 0], ref[..., 1], ref[..., 2], ref[..., 3])
    iou, value = _metric(*cols, metric, _ARRAY_OPS)
    return iou, value


def float_metric(
    px1: float, py1: float, px2: float, py2: float, gx1: float, gy1: float, gx2: float, gy2: float, metric: Metric
) -> tuple[float, float]:
    """`paired_metric` for one pair of boxes as eight plain floats: no numpy set-up for the
    per-sample path; the same formulas (`_metric`), so the same bits.

    >>> iou, giou = float_metric(0.0, 0.0, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0, "giou")
    >>> round(iou, 4), round(giou, 4)
    (0.1429, -0.0794)
    """
    iou, value = _metric(px1, py1, px2, py2, gx1, gy1, gx2, gy2, metric, _FLOAT_OPS)
    return iou, value


def pairwise_metric(pred: FloatArray, ref: FloatArray, metric: Metric = "iou") -> tuple[FloatArray, FloatArray]:
    """``(N, M)`` IoU and metric matrices between ``N`` predicted and ``M`` reference boxes.

    >>> iou, _ = pairwise_metric(np.array([[0.0, 0, 2, 2], [5, 5, 6, 6]]), np.array([[0.0, 0, 2, 2]]))
    >>> iou.tolist()
    [[1.0], [0.0]]
    """
    return paired_metric(pred[:, None, :], ref[None, :, :], metric)


def box_iou(pred: FloatArray, ref: FloatArray) -> FloatArray:
    """Paired IoU of ``(N, 4)`` boxes in [0, 1].

    >>> box_iou(np.array([[0.0, 0, 10, 10]]), np.array([[0.0, 0, 10, 5]])).tolist()
    [0.5]
    """
    return paired_metric(pred, ref, "iou")[0]

"""IoU, GIoU, DIoU and CIoU over numpy arrays of ``x1, y1, x2, y2`` boxes, vectorised.

The formulas are torchvision's (``torchvision/ops/boxes.py``; peer-rewards.md §9.1), on a
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

from typing import Literal

import numpy as np
import numpy.typing as npt

Metric = Literal["iou", "giou", "diou", "ciou"]
METRICS: tuple[Metric, ...] = ("iou", "giou", "diou", "ciou")
FloatArray = npt.NDArray[np.float64]

# torchvision distance_box_iou / complete_box_iou: eps=1e-7 added to c² and to α's denominator.
EPS = 1e-7
_FOUR_OVER_PI2 = 4.0 / (np.pi**2)


def paired_metric(pred: FloatArray, ref: FloatArray, metric: Metric = "iou") -> tuple[FloatArray, FloatArray]:
    """IoU and the chosen metric for boxes paired along the leading axes (broadcasting).

    ``pred`` and ``ref`` are ``(..., 4)`` arrays that broadcast together; ``(N, 4)`` with
    ``(N, 4)`` gives ``N`` paired values, ``(N, 1, 4)`` with ``(1, M, 4)`` an ``(N, M)`` matrix.
    Returns ``(iou, value)``; ``value is iou`` for ``metric="iou"``.

    >>> iou, giou = paired_metric(np.array([[0.0, 0, 2, 2]]), np.array([[1.0, 1, 3, 3]]), "giou")
    >>> round(float(iou[0]), 4), round(float(giou[0]), 4)
    (0.1429, -0.0794)
    """
    px1, py1, px2, py2 = pred[..., 0], pred[..., 1], pred[..., 2], pred[..., 3]
    gx1, gy1, gx2, gy2 = ref[..., 0], ref[..., 1], ref[..., 2], ref[..., 3]
    pw = px2 - px1
    ph = py2 - py1
    gw = gx2 - gx1
    gh = gy2 - gy1
    iw = np.minimum(px2, gx2) - np.maximum(px1, gx1)
    ih = np.minimum(py2, gy2) - np.maximum(py1, gy1)
    np.maximum(iw, 0.0, out=iw)
    np.maximum(ih, 0.0, out=ih)
    inter = iw * ih
    union = pw * ph + gw * gh - inter
    iou: FloatArray = inter / union
    if metric == "iou":
        return iou, iou
    cw = np.maximum(px2, gx2) - np.minimum(px1, gx1)
    ch = np.maximum(py2, gy2) - np.minimum(py1, gy1)
    if metric == "giou":
        area_c = cw * ch
        return iou, iou - (area_c - union) / area_c
    diag2 = cw * cw + ch * ch + EPS
    dx = (px1 + px2) / 2 - (gx1 + gx2) / 2
    dy = (py1 + py2) / 2 - (gy1 + gy2) / 2
    diou: FloatArray = iou - (dx * dx + dy * dy) / diag2
    if metric == "diou":
        return iou, diou
    if metric == "ciou":
        v = _FOUR_OVER_PI2 * (np.arctan2(gw, gh) - np.arctan2(pw, ph)) ** 2
        alpha = v / (1.0 - iou + v + EPS)
        return iou, diou - alpha * v
    raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")


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

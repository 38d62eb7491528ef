"""One-to-one matching of predicted to reference boxes by the Hungarian method.

Several boxes per item are matched so that the sum of the matched scores is the largest
possible (``scipy.optimize.linear_sum_assignment``), as Vision-R1 and VisionReasoner do;
the reward then divides by ``max(n_pred, n_ref)`` so that both missed lesions and spammed
boxes cost (Visual-RFT's ``compute_reward_iou_v2``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

IntArray = npt.NDArray[np.intp]


def match(scores: npt.NDArray[np.float64]) -> tuple[IntArray, IntArray]:
    """Rows and columns of the maximum-weight one-to-one matching of an ``(N, M)`` matrix.

    ``min(N, M)`` pairs come back, rows ascending. A single row or column is an argmax
    (the common case: one box), which the assignment solver would only slow down.

    >>> rows, cols = match(np.array([[0.9, 0.8], [0.85, 0.1]]))
    >>> rows.tolist(), cols.tolist()
    ([0, 1], [1, 0])
    """
    n, m = scores.shape
    if n == 0 or m == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty.copy()
    if n == 1:
        return np.zeros(1, dtype=np.intp), np.array([int(np.argmax(scores[0]))], dtype=np.intp)
    if m == 1:
        return np.array([int(np.argmax(scores[:, 0]))], dtype=np.intp), np.zeros(1, dtype=np.intp)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    return np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)

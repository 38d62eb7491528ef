"""The numeric half of the ``iou`` reward: a whole batch of parsed boxes at once, in numpy.

`scorers.iou` walks the items (fields, frame, regex) and hands over flat lists; here the batch
is validated, mapped into each item's comparison space, paired (every predicted × reference
box of every item in one array), measured, matched and shaped, and each item gets its
`Score`. Validation gives the same reasons, in the same order, as `scorers.boxes.box_error`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from scorers.box_metrics import float_iou, float_metric, paired_metric
from scorers.boxes import MAX_ABS_COORD, NO_BOX, PRED_REASONS, REF_REASONS, box_code
from scorers.coords import Frame
from scorers.matching import match
from scorers.types import Score

if TYPE_CHECKING:
    from scorers.iou import IouParams


def _first_bad(b: np.ndarray, counts: np.ndarray, *, strict_area: bool) -> dict[int, int]:
    """Row (among the scored items) → reason code of its first invalid box; {} when all are valid.

    The codes index `PRED_REASONS` / `REF_REASONS`, checked in the order of `boxes.box_code`.
    """
    # One pass for the common answer "all valid"; NaN fails every comparison, so it lands here too.
    in_range = (np.abs(b) <= MAX_ABS_COORD).all(axis=1)
    if strict_area:
        bad_x = b[:, 2] <= b[:, 0]
        bad_y = b[:, 3] <= b[:, 1]
    else:
        bad_x = b[:, 2] < b[:, 0]
        bad_y = b[:, 3] < b[:, 1]
    bad = np.flatnonzero(~in_range | bad_x | bad_y)
    if bad.size == 0:
        return {}
    finite = np.isfinite(b[bad]).all(axis=1)
    codes = np.where(~finite, 1, np.where(~in_range[bad], 2, np.where(bad_x[bad], 3, 4)))
    owner = np.repeat(np.arange(counts.size), counts)[bad]
    first: dict[int, int] = {}
    for row, code in zip(owner.tolist(), codes.tolist(), strict=True):
        first.setdefault(row, code)
    return first


def _frame_row(f: Frame) -> tuple[float, ...]:
    """The 16 columns of one frame in `score_box_batch`' table."""
    sx, sy, rx, ry = f.pred_sx, f.pred_sy, f.ref_sx, f.ref_sy
    inf = float("inf")
    lo, (w, h) = (0.0, f.bounds) if f.bounds is not None else (-inf, (inf, inf))
    return (sx, sy, sx, sy, rx, ry, rx, ry, lo, lo, lo, lo, w, h, w, h)


def shape_values(value: np.ndarray, p: IouParams) -> np.ndarray:
    """The reward for each metric value under the params' ``mode`` (see `scorers.iou`).

    >>> from scorers.iou import IouParams
    >>> shape_values(np.array([0.2, 0.6, 0.9]), IouParams(mode="band", lo=0.5, hi=0.7)).round(2).tolist()
    [0.0, 0.5, 1.0]
    """
    if p.mode == "threshold":
        hit = value > p.tau if p.strict else value >= p.tau
        return hit.astype(np.float64)
    if p.mode == "band":
        if p.hi == p.lo:
            return (value >= p.hi).astype(np.float64)
        return np.clip((value - p.lo) / (p.hi - p.lo), 0.0, 1.0)
    if p.metric == "iou":
        return value
    if p.metric == "ciou":
        return np.maximum((value + 1.0) / 2.0, 0.0)
    return (value + 1.0) / 2.0


def shape_value(value: float, p: IouParams) -> float:
    """`shape_values` for one value, for the small-batch path.

    >>> from scorers.iou import IouParams
    >>> shape_value(0.6, IouParams(mode="band", lo=0.5, hi=0.7))
    0.5
    """
    if p.mode == "threshold":
        return float(value > p.tau if p.strict else value >= p.tau)
    if p.mode == "band":
        if p.hi == p.lo:
            return float(value >= p.hi)
        return min(max((value - p.lo) / (p.hi - p.lo), 0.0), 1.0)
    if p.metric == "iou":
        return value
    if p.metric == "ciou":
        return max((value + 1.0) / 2.0, 0.0)
    return (value + 1.0) / 2.0


# Below this many one-box items, numpy's fixed cost per call (~50 µs for the whole pipeline)
# exceeds the per-item work: score them with plain floats. Per-sample traffic (OpenRLHF, slime)
# sends one item per request, so this is the path most requests take.
SMALL_BATCH = 8


def score_single_box(
    tokens: Sequence[str | float], ref_box: Sequence[float], f: Frame, fmt: str | None, p: IouParams
) -> Score:
    """One predicted box (its 4 coordinate strings) against one reference box, with plain floats.

    The small-batch path of `score_box_batch`, with the same results bit for bit (the formulas
    are shared with the numpy path, `scorers.box_metrics`).
    """
    # Scalars rather than lists, and the validity checks inline (the reason is worked out only
    # when one fails): this is the whole box cost of a per-sample request.
    m = MAX_ABS_COORD
    r1, r2, r3, r4 = ref_box  # floats already: `Item.boxes` is validated as list[list[float]]
    if not (-m <= r1 <= m and -m <= r2 <= m and -m <= r3 <= m and -m <= r4 <= m and r3 > r1 and r4 > r2):
        return Score.unscorable(REF_REASONS[box_code(r1, r2, r3, r4, strict_area=True)])
    a1, a2, a3, a4 = float(tokens[0]), float(tokens[1]), float(tokens[2]), float(tokens[3])
    if not (-m <= a1 <= m and -m <= a2 <= m and -m <= a3 <= m and -m <= a4 <= m and a3 >= a1 and a4 >= a2):
        return Score.unscorable(PRED_REASONS[box_code(a1, a2, a3, a4)], format=fmt)
    sx, sy = f.pred_sx, f.pred_sy
    p1, p2, p3, p4 = a1 * sx, a2 * sy, a3 * sx, a4 * sy
    if p.clip and f.bounds is not None:
        w, h = f.bounds
        # min(max(v, 0), side) as comparisons, like np.clip in the batch path
        p1 = 0.0 if p1 < 0.0 else (w if p1 > w else p1)
        p2 = 0.0 if p2 < 0.0 else (h if p2 > h else p2)
        p3 = 0.0 if p3 < 0.0 else (w if p3 > w else p3)
        p4 = 0.0 if p4 < 0.0 else (h if p4 > h else p4)
    rx, ry = f.ref_sx, f.ref_sy
    if p.metric == "iou":
        iou = val = float_iou(p1, p2, p3, p4, r1 * rx, r2 * ry, r3 * rx, r4 * ry)
    else:
        iou, val = float_metric(p1, p2, p3, p4, r1 * rx, r2 * ry, r3 * rx, r4 * ry, p.metric)
    details: dict[str, Any] = {
        "iou": iou,
        "n_pred": 1,
        "n_ref": 1,
        "pairs": [[0, 0, iou, val]],
        "boxes": [[p1, p2, p3, p4]],
        "format": fmt,
    }
    if p.mode == "threshold":
        details["tau"] = p.tau
    # Continuous IoU, the default, needs no shaping: skip the call on this path.
    return Score(val if p.mode == "continuous" and p.metric == "iou" else shape_value(val, p), "ok", details)


def score_box_batch(
    out: list[Score | None],
    rows: list[int],
    fmts: list[str | None],
    n_pred_l: list[int],
    n_ref_l: list[int],
    fids: list[int],
    frames: list[Frame],
    pred_tok: list[str],
    ref_flat: list[float],
    p: IouParams,
) -> None:
    """Score every item that reached the box maths, writing its `Score` into ``out[k]``.

    ``rows`` are the items' indices in ``out``; ``pred_tok`` holds 4 coordinate strings per
    predicted box and ``ref_flat`` 4 numbers per reference box, item after item, with the
    counts in ``n_pred_l`` / ``n_ref_l``; ``fids`` index ``frames``.
    """
    single = n_pred_l.count(1) == n_ref_l.count(1) == len(rows)  # every item one box against one box
    if single and len(rows) < SMALL_BATCH:
        for j, (k, fmt, fid) in enumerate(zip(rows, fmts, fids, strict=True)):
            out[k] = score_single_box(pred_tok[4 * j : 4 * j + 4], ref_flat[4 * j : 4 * j + 4], frames[fid], fmt, p)
        return
    n_pred = np.asarray(n_pred_l, dtype=np.intp)
    n_ref = np.asarray(n_ref_l, dtype=np.intp)
    raw_pred = np.array(pred_tok, dtype=np.float64).reshape(-1, 4)
    raw_ref = np.array(ref_flat, dtype=np.float64).reshape(-1, 4)
    bad_ref = _first_bad(raw_ref, n_ref, strict_area=True)
    bad_pred = _first_bad(raw_pred, n_pred, strict_area=False)

    # Per frame, 16 columns in four groups of x1, y1, x2, y2: the predictions' scale, the
    # references' scale, and the image's lower and upper bounds for clipping predictions
    # (±inf where the image size is unknown).
    table = np.array([_frame_row(f) for f in frames], dtype=np.float64)
    per_item = table[np.asarray(fids, dtype=np.intp)]
    per_pred = per_item if single else np.repeat(per_item, n_pred, axis=0)
    per_ref = per_item if single else np.repeat(per_item, n_ref, axis=0)
    pred = raw_pred * per_pred[:, 0:4]
    ref = raw_ref * per_ref[:, 4:8]
    if p.clip:
        np.clip(pred, per_pred[:, 8:12], per_pred[:, 12:16], out=pred)

    # Every predicted × reference pair of every item, flattened into one paired computation.
    n_pairs = n_pred * n_ref
    pred_start = np.cumsum(n_pred) - n_pred
    pair_start = np.cumsum(n_pairs) - n_pairs
    with np.errstate(all="ignore"):  # invalid items compute garbage that is never read
        if single:
            iou_all, val_all = paired_metric(pred, ref, p.metric)
        else:
            ref_start = np.cumsum(n_ref) - n_ref
            owner = np.repeat(np.arange(len(rows)), n_pairs)
            t = np.arange(int(n_pairs.sum())) - pair_start[owner]
            m = n_ref[owner]
            iou_all, val_all = paired_metric(pred[pred_start[owner] + t // m], ref[ref_start[owner] + t % m], p.metric)
        shaped_all = shape_values(val_all, p)

    pred_l = pred.tolist()
    has_bad = bool(bad_ref or bad_pred)
    tau = p.tau if p.mode == "threshold" else None
    if single and not has_bad:
        # The common batch (one box against one box, all valid) in one tight loop.
        columns = zip(rows, fmts, iou_all.tolist(), val_all.tolist(), shaped_all.tolist(), pred_l, strict=True)
        if tau is None:
            for k, fmt, iou, val, reward, box in columns:
                out[k] = Score(
                    reward,
                    "ok",
                    {"iou": iou, "n_pred": 1, "n_ref": 1, "pairs": [[0, 0, iou, val]], "boxes": [box], "format": fmt},
                )
        else:
            for k, fmt, iou, val, reward, box in columns:
                out[k] = Score(
                    reward,
                    "ok",
                    {
                        "iou": iou,
                        "n_pred": 1,
                        "n_ref": 1,
                        "pairs": [[0, 0, iou, val]],
                        "boxes": [box],
                        "format": fmt,
                        "tau": tau,
                    },
                )
        return

    # Match every item first, so that only matched pairs leave numpy (10×10 boxes: 100 pairs, 10 matches).
    ps_l = pair_start.tolist()
    matches: list[tuple[list[int], list[int]] | None] = []
    picks: list[int] = []
    for row, (npd, nr, s) in enumerate(zip(n_pred_l, n_ref_l, ps_l, strict=True)):
        if npd == 0 or nr == 0 or row in bad_ref or row in bad_pred:
            matches.append(None)
            continue
        if npd == 1 and nr == 1:
            pr_l, rc_l = [0], [0]
        else:
            pr, rc = match(val_all[s : s + npd * nr].reshape(npd, nr))
            pr_l, rc_l = pr.tolist(), rc.tolist()
        matches.append((pr_l, rc_l))
        picks.extend([s + i * nr + j for i, j in zip(pr_l, rc_l, strict=True)])
    idx = np.asarray(picks, dtype=np.intp)
    iou_m = iou_all[idx].tolist()
    val_m = val_all[idx].tolist()
    shaped_m = shaped_all[idx].tolist()

    o = 0  # position in the matched lists
    columns2 = zip(rows, fmts, n_pred_l, n_ref_l, pred_start.tolist(), matches, strict=True)
    for row, (k, fmt, npd, nr, b0, matched) in enumerate(columns2):
        if has_bad:
            code = bad_ref.get(row)
            if code is not None:
                out[k] = Score.unscorable(REF_REASONS[code])
                continue
            code = bad_pred.get(row)
            if code is not None:
                out[k] = Score.unscorable(PRED_REASONS[code], format=fmt)
                continue
        details: dict[str, Any]
        if matched is not None:
            pr_l, rc_l = matched
            end = o + len(pr_l)
            ious = iou_m[o:end]
            pairs = [list(pair) for pair in zip(pr_l, rc_l, ious, val_m[o:end], strict=True)]
            denom = max(npd, nr)
            iou = sum(ious) / denom
            reward = sum(shaped_m[o:end]) / denom
            o = end
            details = {
                "iou": iou,
                "n_pred": npd,
                "n_ref": nr,
                "pairs": pairs,
                "boxes": pred_l[b0 : b0 + npd],
                "format": fmt,
            }
        elif nr == 0:
            reward = iou = 1.0 if npd == 0 else 0.0
            rule = "no reference boxes and none predicted" if npd == 0 else "boxes predicted where there are none"
            details = {"iou": iou, "n_pred": npd, "n_ref": 0, "rule": rule, "format": fmt}
        else:  # boxes to find, none predicted
            if p.missing == "unscorable":
                out[k] = Score.unscorable(NO_BOX)
                continue
            reward = iou = 0.0
            details = {"iou": 0.0, "n_pred": 0, "n_ref": nr, "rule": "no box found", "format": None}
        if tau is not None:
            details["tau"] = tau
        out[k] = Score(reward, "ok", details)

"""The numeric half of the ``iou`` reward: a whole batch of parsed boxes at once, in numpy.

`scorers.iou` walks the items (fields, frame, regex) and hands over flat lists; here the batch
is validated, mapped into each item's comparison space, paired (every predicted × reference
box of every item in one array), measured, matched and shaped, and each item gets its
`Score`. Validation gives the same reasons, in the same order, as `scorers.boxes.box_error`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from scorers.box_metrics import Metric, float_metric, paired_metric
from scorers.boxes import MAX_ABS_COORD, NO_BOX, PRED_REASONS, REF_REASONS, box_code, find_box_tokens
from scorers.coords import Frame, frame_for
from scorers.matching import match
from scorers.types import Item, Score

if TYPE_CHECKING:
    from scorers.iou import IouParams


def _first_bad(b: np.ndarray, counts: np.ndarray | None, *, strict_area: bool) -> dict[int, int]:
    """Row (among the scored items) → reason code of its first invalid box; {} when all are valid.

    ``counts``: boxes per row, or None for one box per row. The codes index `PRED_REASONS` /
    `REF_REASONS`, checked in the order of `boxes.box_code`.
    """
    if b.size == 0:
        return {}
    # The common answer, every box valid, in whole-array reductions: half the cost of the
    # per-row pass below. NaN fails every comparison, and min/max return it, so it fails here.
    x1, y1, x2, y2 = b.T
    sides = (x2 > x1).all() and (y2 > y1).all() if strict_area else (x2 >= x1).all() and (y2 >= y1).all()
    if sides and -MAX_ABS_COORD <= b.min() and b.max() <= MAX_ABS_COORD:
        return {}
    in_range = (np.abs(b) <= MAX_ABS_COORD).all(axis=1)
    if strict_area:
        bad_x = x2 <= x1
        bad_y = y2 <= y1
    else:
        bad_x = x2 < x1
        bad_y = y2 < y1
    bad = np.flatnonzero(~in_range | bad_x | bad_y)
    finite = np.isfinite(b[bad]).all(axis=1)
    codes = np.where(~finite, 1, np.where(~in_range[bad], 2, np.where(bad_x[bad], 3, 4)))
    owner = bad if counts is None else np.repeat(np.arange(counts.size), counts)[bad]
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


# Below this many items, numpy's fixed cost per batch (~70 array operations, 80-120 µs measured
# here) exceeds what it saves per one-box item (~0.7 µs): `scorers.iou` scores those items with
# `score_one_box_item` instead. Crossover measured at ~128 items, by wall clock and by instruction
# count (cachegrind). Per-sample traffic (OpenRLHF, slime) sends one item per request and TRL's
# per-device batches hold 8-64 completions: most requests take the plain-float path.
SMALL_BATCH = 128


def score_one_box_item(it: Item, p: IouParams) -> Score | None:
    """The usual item, one predicted box against one reference box, with plain floats; None for
    anything else (several boxes, none, polygons, a bad size), which `score_box_batch` scores
    and explains as usual.

    The per-sample and small-batch path, with the same results as `score_box_batch` bit for bit
    (the same formulas as `scorers.box_metrics`, in the same order; tested with hypothesis).
    """
    # One function from the item's fields to its Score: per-sample traffic pays every call and
    # every argument passed (a split into two functions measured ~2% slower per item).
    ref = it.boxes
    if ref is None or len(ref) != 1:
        return None
    ref_box = ref[0]
    if len(ref_box) != 4:
        return None
    f = frame_for(p.coords, it.image_size, it.input_size, p.ref_coords)
    if isinstance(f, str):
        return None
    found, fmt = find_box_tokens(it.completion)
    if len(found) != 1:
        return None
    tokens = found[0]
    # Scalars rather than lists, and the validity checks inline (the reason is worked out only
    # when one fails): this is the whole box cost of a per-sample request. Six comparisons per
    # box, not ten: with x1 >= -m, x2 <= m and x1 <= x2, both corners lie in [-m, m] (NaN fails
    # any comparison, so it fails here and box_code names it).
    hi = MAX_ABS_COORD
    lo = -hi
    r1, r2, r3, r4 = ref_box  # floats already: `Item.boxes` is validated as list[list[float]]
    if not (r1 < r3 and r2 < r4 and lo <= r1 and r3 <= hi and lo <= r2 and r4 <= hi):
        return Score.invalid(REF_REASONS[box_code(r1, r2, r3, r4, strict_area=True)], "boxes")
    a1, a2, a3, a4 = float(tokens[0]), float(tokens[1]), float(tokens[2]), float(tokens[3])
    sx, sy = f.pred_sx, f.pred_sy
    p1, p2, p3, p4 = a1 * sx, a2 * sy, a3 * sx, a4 * sy  # NaN and inf pass through, to be refused
    # The usual answer, a well-formed box inside the image, is valid and needs no clipping: six
    # comparisons (see `Frame.inside_w`). Anything else takes the checks in full. The lower
    # bound is strict: np.clip turns -0.0 into 0.0, and the sign of a zero side matters to
    # CIoU's arctangent, so a coordinate at 0 takes the clipping below like the batch path.
    if not (a1 <= a3 and a2 <= a4 and 0.0 < p1 and 0.0 < p2 and p3 <= f.inside_w and p4 <= f.inside_h):
        if not (a1 <= a3 and a2 <= a4 and lo <= a1 and a3 <= hi and lo <= a2 and a4 <= hi):
            return Score.unscorable(PRED_REASONS[box_code(a1, a2, a3, a4)], format=fmt)
        bounds = f.bounds
        if p.clip and bounds is not None:
            w, h = bounds
            # np.clip(v, 0, side) is min(max(v, 0), side) with max(a, b) = a if a > b else b and
            # min(a, b) = a if a < b else b: the same comparisons, so the same bits, -0.0 included.
            p1 = (p1 if p1 < w else w) if p1 > 0.0 else 0.0
            p2 = (p2 if p2 < h else h) if p2 > 0.0 else 0.0
            p3 = (p3 if p3 < w else w) if p3 > 0.0 else 0.0
            p4 = (p4 if p4 < h else h) if p4 > 0.0 else 0.0
    rx, ry = f.ref_sx, f.ref_sy
    # Each read of a params field goes through pydantic's __getattr__ hook: read each once.
    metric, mode = p.metric, p.mode
    if metric == "iou":
        # `box_metrics._metric`'s IoU spelled out for plain floats, the same operations in the same
        # order (so the same bits as a big batch); b if b < a else a is min(a, b), without the call.
        g1, g2, g3, g4 = r1 * rx, r2 * ry, r3 * rx, r4 * ry
        iw = (g3 if g3 < p3 else p3) - (g1 if g1 > p1 else p1)
        ih = (g4 if g4 < p4 else p4) - (g2 if g2 > p2 else p2)
        inter = (iw if iw >= 0.0 else 0.0) * (ih if ih >= 0.0 else 0.0)
        iou = val = inter / ((p3 - p1) * (p4 - p2) + (g3 - g1) * (g4 - g2) - inter)
    else:
        iou, val = float_metric(p1, p2, p3, p4, r1 * rx, r2 * ry, r3 * rx, r4 * ry, metric)
    details: dict[str, Any] = {
        "iou": iou,
        "n_pred": 1,
        "n_ref": 1,
        "pairs": ((0, 0, iou, val),),
        "boxes": ((p1, p2, p3, p4),),
        "format": fmt,
    }
    if mode == "threshold":
        details["tau"] = p.tau
    # Continuous IoU, the default, needs no shaping: skip the call on this path.
    return Score(val if mode == "continuous" and metric == "iou" else shape_value(val, p), "ok", details)


def _all_pairs(
    pred: np.ndarray, ref: np.ndarray, n_pred: np.ndarray, n_ref: np.ndarray, pred_start: np.ndarray, metric: Metric
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IoU and metric of every predicted × reference pair of every item, flat, and where each
    item's ``n_pred × n_ref`` block (row-major) starts in them.

    Items are grouped by their ``(n_pred, n_ref)``: within a group, the boxes are gathered once
    and every pair comes from broadcasting ``(items, n_pred, 1, 4)`` against ``(items, 1,
    n_ref, 4)``. Gathering the pairs themselves instead (two indices per pair) cost twelve
    times as much for 10 × 10 boxes. Element by element the operations are the same, so are
    the bits.
    """
    ref_start = np.cumsum(n_ref) - n_ref
    key = n_pred * (int(n_ref.max()) + 1) + n_ref
    order = np.argsort(key, kind="stable")
    _, first, counts = np.unique(key[order], return_index=True, return_counts=True)
    pair_start = np.zeros(n_pred.size, dtype=np.intp)
    ious: list[np.ndarray] = []
    values: list[np.ndarray] = []
    offset = 0
    for f, c in zip(first.tolist(), counts.tolist(), strict=True):
        members = order[f : f + c]
        a, b = int(n_pred[members[0]]), int(n_ref[members[0]])
        pair_start[members] = offset + np.arange(c) * (a * b)
        if a == 0 or b == 0:
            continue
        pi = (pred_start[members][:, None] + np.arange(a)).ravel()
        ri = (ref_start[members][:, None] + np.arange(b)).ravel()
        iou, value = paired_metric(pred[pi].reshape(c, a, 1, 4), ref[ri].reshape(c, 1, b, 4), metric)
        ious.append(iou.ravel())
        values.append(value.ravel())
        offset += c * a * b
    if not ious:
        empty = np.zeros(0, dtype=np.float64)
        return empty, empty, pair_start
    return np.concatenate(ious), np.concatenate(values), pair_start


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
    # The usual batch is the simplest: one box against one box in every item, and one image
    # size for all. Both skip work: at 256 items numpy's cost per call, not per element, is most
    # of this function, and they save the per-box counts and the per-item gathers.
    single = n_pred_l.count(1) == n_ref_l.count(1) == len(rows)  # every item one box against one box
    n_pred = np.asarray(n_pred_l, dtype=np.intp)
    n_ref = np.asarray(n_ref_l, dtype=np.intp)
    raw_pred = np.array(pred_tok, dtype=np.float64).reshape(-1, 4)
    raw_ref = np.array(ref_flat, dtype=np.float64).reshape(-1, 4)
    bad_ref = _first_bad(raw_ref, None if single else n_ref, strict_area=True)
    bad_pred = _first_bad(raw_pred, None if single else n_pred, strict_area=False)

    # Per frame, 16 columns in four groups of x1, y1, x2, y2: the predictions' scale, the
    # references' scale, and the image's lower and upper bounds for clipping predictions
    # (±inf where the image size is unknown). One frame: its row broadcasts over every box.
    table = np.array([_frame_row(f) for f in frames], dtype=np.float64)
    if len(frames) == 1:
        per_pred = per_ref = table
    else:
        per_item = table[np.asarray(fids, dtype=np.intp)]
        per_pred = per_item if single else np.repeat(per_item, n_pred, axis=0)
        per_ref = per_item if single else np.repeat(per_item, n_ref, axis=0)
    pred = raw_pred * per_pred[:, 0:4]
    ref = raw_ref * per_ref[:, 4:8]
    if p.clip:
        np.clip(pred, per_pred[:, 8:12], per_pred[:, 12:16], out=pred)

    # Every predicted × reference pair of every item, in one flat array per quantity.
    pred_start = np.cumsum(n_pred) - n_pred
    with np.errstate(all="ignore"):  # invalid items compute garbage that is never read
        if single:
            iou_all, val_all = paired_metric(pred, ref, p.metric)
            pair_start = pred_start
        else:
            iou_all, val_all, pair_start = _all_pairs(pred, ref, n_pred, n_ref, pred_start, p.metric)
        shaped_all = shape_values(val_all, p)

    # Tuples, not lists, in every details (see `scorers.iou`, "Details are tuples").
    pred_t = tuple(zip(*pred.T.tolist(), strict=True))
    has_bad = bool(bad_ref or bad_pred)
    tau = p.tau if p.mode == "threshold" else None
    if single and not has_bad:
        # The common batch (one box against one box, all valid) in one tight loop.
        columns = zip(rows, fmts, iou_all.tolist(), val_all.tolist(), shaped_all.tolist(), pred_t, strict=True)
        for k, fmt, iou, val, reward, box in columns:
            details: dict[str, Any] = {
                "iou": iou,
                "n_pred": 1,
                "n_ref": 1,
                "pairs": ((0, 0, iou, val),),
                "boxes": (box,),
                "format": fmt,
            }
            if tau is not None:
                details["tau"] = tau
            out[k] = Score(reward, "ok", details)
        return

    # Match every item first, so that only matched pairs leave numpy (10×10 boxes: 100 pairs, 10
    # matches); the matched pairs of every item then come out in one gather and one conversion.
    n_matched: list[int] = []  # per row: its number of matched pairs, min(n_pred, n_ref); -1: none to match
    m_rows: list[np.ndarray] = []
    m_cols: list[np.ndarray] = []
    m_start: list[int] = []
    m_nref: list[int] = []
    one_one = np.zeros(1, dtype=np.intp)
    for row, (npd, nr, s) in enumerate(zip(n_pred_l, n_ref_l, pair_start.tolist(), strict=True)):
        if npd == 0 or nr == 0 or row in bad_ref or row in bad_pred:
            n_matched.append(-1)
            continue
        if npd == 1 and nr == 1:
            pr = rc = one_one
        else:
            pr, rc = match(val_all[s : s + npd * nr].reshape(npd, nr))
        m_rows.append(pr)
        m_cols.append(rc)
        m_start.append(s)
        m_nref.append(nr)
        n_matched.append(min(npd, nr))
    pairs_m: tuple[tuple[int, int, float, float], ...] = ()
    iou_m: list[float] = []
    shaped_m: list[float] = []
    if m_rows:
        counts = [c for c in n_matched if c >= 0]
        pr_all = np.concatenate(m_rows)
        rc_all = np.concatenate(m_cols)
        idx = np.repeat(m_start, counts) + pr_all * np.repeat(m_nref, counts) + rc_all
        iou_m = iou_all[idx].tolist()
        shaped_m = shaped_all[idx].tolist()
        pairs_m = tuple(zip(pr_all.tolist(), rc_all.tolist(), iou_m, val_all[idx].tolist(), strict=True))

    o = 0  # position in the matched lists
    columns2 = zip(rows, fmts, n_pred_l, n_ref_l, pred_start.tolist(), n_matched, strict=True)
    for row, (k, fmt, npd, nr, b0, matched) in enumerate(columns2):
        if has_bad:
            code = bad_ref.get(row)
            if code is not None:
                out[k] = Score.invalid(REF_REASONS[code], "boxes")
                continue
            code = bad_pred.get(row)
            if code is not None:
                out[k] = Score.unscorable(PRED_REASONS[code], format=fmt)
                continue
        if matched >= 0:
            end = o + matched
            denom = max(npd, nr)
            iou = sum(iou_m[o:end]) / denom
            reward = sum(shaped_m[o:end]) / denom
            details = {
                "iou": iou,
                "n_pred": npd,
                "n_ref": nr,
                "pairs": pairs_m[o:end],
                "boxes": pred_t[b0 : b0 + npd],
                "format": fmt,
            }
            o = end
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

"""The ``iou`` reward: predicted boxes (or polygons) against reference ones.

Per item: find the boxes in the answer (`scorers.boxes`), bring both sides into one
coordinate space (`scorers.coords`), compute IoU and the chosen metric for every
predicted × reference pair (`scorers.box_metrics`), match them one to one by the Hungarian
method (`scorers.matching`) and shape the result:

    reward = Σ_matched shape(metric) / max(n_pred, n_ref)

(Visual-RFT's normaliser: misses and spam both cost; peer-rewards.md §3.2, §9.2). For one box
against one box this is just ``shape(metric)``. Shapes (``mode``):

- ``continuous``: the metric itself; GIoU/DIoU, which lie in (−1, 1], are mapped to [0, 1] by
  ``(v + 1) / 2`` so that every metric gives a reward in [0, 1] and profiles can mix them (IoU
  is left as is); CIoU the same, clipped at 0 (it dips to −1.5 for disjoint boxes of
  different shapes, where no ranking is worth a reward below 0).
- ``threshold``: ``1[v ≥ tau]`` (MedLoc-R1's ≥; papers.md §1.2), or ``1[v > tau]`` with
  ``strict`` (VLM-R1's first release). ``tau`` is a param, which the scheduler layer sets.
- ``band``: 0 for ``v ≤ lo``, 1 for ``v ≥ hi``, linear between (Vision-R1's banded rule,
  made continuous; peer-rewards.md §10).

``tau``, ``lo`` and ``hi`` apply to the raw metric value (GIoU in (−1, 1], not remapped).

Reference boxes are ``Item.boxes`` in original-image coordinates of the call's ``coords``
mode; ``boxes=[]`` says "nothing to find" (1.0 when nothing is predicted, else 0.0), while
``boxes`` missing makes the item unscorable. Items with ``polygons`` and no ``boxes`` go the
polygon way (`scorers.polygons`). Every scored item's details carry the raw ``iou``
(Σ matched IoU / max(n_pred, n_ref), whatever the metric and mode), which is what MedLoc-R1's
scheduler windows; ``pairs`` as ``[pred_index, ref_index, iou, metric]``; ``boxes``, the
predictions in the comparison space; ``format``, the box syntax that matched.

Everything numeric runs once per batch in numpy; the only per-item Python is the regex.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from itertools import chain
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from scorers.box_metrics import Metric, paired_metric
from scorers.boxes import MAX_ABS_COORD, find_box_tokens
from scorers.coords import CoordMode, Frame, frame_for
from scorers.matching import match
from scorers.polygons import score_polygon_item
from scorers.registry import Params, register
from scorers.types import Item, Score

Mode = Literal["continuous", "threshold", "band"]


class IouParams(Params):
    """Params of the ``iou`` reward (names fixed by DESIGN.md §4)."""

    mode: Mode = Field(default="continuous", description="continuous | threshold | band.")
    coords: CoordMode = Field(
        default="abs",
        description="abs (pixels; predictions in model-input pixels when input_size is given) | norm1 | norm1000.",
    )
    metric: Metric = Field(default="iou", description="iou | giou | diou | ciou.")
    # VLM-R1's original binary reward: IoU > 0.5; MedLoc-R1 starts its schedule at τ0=0.3.
    tau: float = Field(default=0.5, ge=-1.0, le=1.0, description="threshold mode: reward 1 when metric ≥ tau.")
    strict: bool = Field(default=False, description="threshold mode: use metric > tau (VLM-R1) instead of ≥.")
    # Vision-R1's first-stage band (0.5, 0.75) (peer-rewards.md §10).
    lo: float = Field(default=0.5, ge=-1.0, le=1.0, description="band mode: reward 0 at or below lo.")
    hi: float = Field(default=0.75, ge=-1.0, le=1.0, description="band mode: reward 1 at or above hi.")
    # VisionReasoner caps objects at 120; 100 keeps the Hungarian step well under a millisecond.
    max_boxes: int = Field(
        default=100, ge=1, le=10_000, description="More boxes than this on either side: unscorable."
    )
    clip: bool = Field(default=True, description="Clip predicted boxes to the image when its size is known.")
    missing: Literal["zero", "unscorable"] = Field(
        default="zero",
        description="No box found in the answer while the reference has some: reward 0 (as VLM-R1) or abstain.",
    )

    @model_validator(mode="after")
    def _band_is_ordered(self) -> IouParams:
        if self.lo > self.hi:
            raise ValueError("lo must not exceed hi")
        return self


_UNSET = object()  # "no frame looked up yet" (None is a valid image size: absent)

_PRED_REASONS = (
    "",
    "invalid box: non-finite coordinate",
    f"invalid box: coordinate beyond ±{MAX_ABS_COORD:g}",
    "invalid box: x2 < x1",
    "invalid box: y2 < y1",
)
_REF_REASONS = (
    "",
    "invalid reference box: non-finite coordinate",
    f"invalid reference box: coordinate beyond ±{MAX_ABS_COORD:g}",
    "invalid reference box: x2 <= x1 (no area)",
    "invalid reference box: y2 <= y1 (no area)",
)


def _first_bad(b: np.ndarray, counts: np.ndarray, *, strict_area: bool) -> dict[int, int]:
    """Row (among the scored items) → reason code of its first invalid box; {} when all are valid.

    The codes index `_PRED_REASONS` / `_REF_REASONS`, checked in the order of `boxes.box_error`.
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
    """The 16 columns of one frame in `_score_boxes`' table."""
    sx, sy, rx, ry = f.pred_sx, f.pred_sy, f.ref_sx, f.ref_sy
    inf = float("inf")
    lo, (w, h) = (0.0, f.bounds) if f.bounds is not None else (-inf, (inf, inf))
    return (sx, sy, sx, sy, rx, ry, rx, ry, lo, lo, lo, lo, w, h, w, h)


def _shape(value: np.ndarray, p: IouParams) -> np.ndarray:
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


_EXAMPLES: tuple[dict[str, Any], ...] = (
    {"completion": "<think>left apex</think><answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 50]]},
    {
        "completion": '<answer>```json\n[{"bbox_2d": [20, 20, 60, 60], "label": "nodule"}]\n```</answer>',
        "boxes": [[40, 40, 120, 120]],
        "image_size": (400, 400),
        "input_size": (200, 200),
    },
    {"completion": "<answer><|box_start|>(100,100),(500,500)<|box_end|></answer>", "boxes": [[100, 100, 400, 400]]},
    {"completion": "<answer>no finding</answer>", "boxes": []},
    {"completion": "<answer>[[0,0],[10,0],[10,10],[0,10]]</answer>", "polygons": [[[0, 0], [10, 0], [0, 10]]]},
)


@register(
    "iou",
    params=IouParams,
    range=(0.0, 1.0),
    description=(
        "Grounding: predicted boxes ([x1,y1,x2,y2], bbox_2d JSON, Qwen2-VL box tokens) or polygons against "
        "reference ones; IoU/GIoU/DIoU/CIoU, Hungarian matching, Σ matched / max(n_pred, n_ref); "
        "continuous, threshold (τ, MedLoc-R1) or band (Vision-R1) shaping."
    ),
    citation=(
        "MedLoc-R1 (arXiv 2603.28120); VLM-R1 (arXiv 2504.07615); Vision-R1 (arXiv 2503.18013); "
        "Visual-RFT (arXiv 2503.01785); Rezatofighi et al. 2019 (GIoU); Zheng et al. 2020 (DIoU/CIoU)."
    ),
    examples=_EXAMPLES,
)
def iou_reward(items: Sequence[Item], params: IouParams) -> list[Score]:
    """Box IoU reward for a batch, in [0, 1] (see the module docstring for the rules).

    >>> items = [Item(completion="<answer>[0, 0, 10, 10]</answer>", boxes=[[0, 0, 10, 5]])]
    >>> s = iou_reward(items, IouParams())[0]
    >>> s.reward, s.details["iou"], s.details["pairs"]
    (0.5, 0.5, [[0, 0, 0.5, 0.5]])
    >>> iou_reward(items, IouParams(mode="threshold", tau=0.5))[0].reward
    1.0
    """
    with _collector_paused():
        return _iou_batch(items, params)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one batch is scored.

    A batch of 4096 items leaves ~25k new containers (a details dict, its lists, a Score per
    item), none of which can form a reference cycle; left on, the collector runs a full pass
    over the whole heap every few batches, which measured here costs more than all the box
    maths. Paused only if it was on, and always restored; other threads merely see a
    collector that starts a few milliseconds late.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _iou_batch(items: Sequence[Item], params: IouParams) -> list[Score]:
    """The body of `iou_reward`."""
    p = params
    out: list[Score | None] = [None] * len(items)
    # Per item that reaches the box maths: its index, box syntax, box counts, frame id.
    meta: list[tuple[int, str | None, int, int, int]] = []  # (item index, format, n_pred, n_ref, frame id)
    pred_tok: list[str] = []  # 4 coordinate strings per predicted box, parsed by numpy at once
    ref_flat: list[float] = []
    # Items of a batch nearly always share their image and input sizes: one frame per pair.
    frame_ids: dict[tuple[Any, Any], int] = {}
    frames: list[Frame] = []
    frame_errors: list[str] = []
    max_boxes = p.max_boxes
    last_img: Any = _UNSET
    last_inp: Any = _UNSET
    last_fid = 0

    for k, it in enumerate(items):
        ref = it.boxes
        if ref is None:
            if it.polygons is not None:
                shape = partial(_shape, p=p)
                out[k] = score_polygon_item(it, p.coords, p.metric, max_boxes, p.clip, p.missing, shape)
            else:
                out[k] = Score.unscorable("no reference boxes: item.boxes is missing")
            continue
        img = it.image_size
        inp = it.input_size
        if img == last_img and inp == last_inp:
            fid = last_fid
        else:
            found_fid = frame_ids.get((img, inp))
            if found_fid is None:
                frame = frame_for(p.coords, img, inp)
                if isinstance(frame, str):
                    found_fid = -1 - len(frame_errors)
                    frame_errors.append(frame)
                else:
                    found_fid = len(frames)
                    frames.append(frame)
                frame_ids[(img, inp)] = found_fid
            fid = last_fid = found_fid
            last_img, last_inp = img, inp
        if fid < 0:
            out[k] = Score.unscorable(frame_errors[-1 - fid])
            continue
        nr = len(ref)
        if nr > max_boxes:
            out[k] = Score.unscorable(f"too many reference boxes: {nr} > max_boxes={max_boxes}")
            continue
        found, fmt = find_box_tokens(it.completion)
        npd = len(found)
        if npd > max_boxes:
            out[k] = Score.unscorable(f"too many boxes: {npd} > max_boxes={max_boxes}", format=fmt)
            continue
        before = len(ref_flat)
        if nr == 1:
            ref_flat += ref[0]
        else:
            ref_flat.extend(chain.from_iterable(ref))
        if len(ref_flat) - before != 4 * nr:  # a reference "box" of 3 or 5 numbers
            del ref_flat[before:]
            out[k] = Score.unscorable("invalid reference box: needs 4 coordinates [x1, y1, x2, y2]")
            continue
        if npd == 1:
            pred_tok += found[0]
        else:
            pred_tok.extend(chain.from_iterable(found))
        meta.append((k, fmt, npd, nr, fid))

    if meta:
        rows, fmts, n_pred, n_ref, fids = (list(col) for col in zip(*meta, strict=True))
        _score_boxes(out, rows, fmts, n_pred, n_ref, fids, frames, pred_tok, ref_flat, p)
    return [s if s is not None else Score.error("internal: item was not scored") for s in out]


def _score_boxes(
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
    """The numeric part, once for the whole batch: validate, map, pair, match, shape."""
    n_pred = np.asarray(n_pred_l, dtype=np.intp)
    n_ref = np.asarray(n_ref_l, dtype=np.intp)
    raw_pred = np.array(pred_tok, dtype=np.float64).reshape(-1, 4)
    raw_ref = np.array(ref_flat, dtype=np.float64).reshape(-1, 4)
    bad_ref = _first_bad(raw_ref, n_ref, strict_area=True)
    bad_pred = _first_bad(raw_pred, n_pred, strict_area=False)
    single = n_pred_l.count(1) == n_ref_l.count(1) == len(rows)  # every item one box against one box

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
        shaped_all = _shape(val_all, p)

    pred_l = pred.tolist()
    has_bad = bool(bad_ref or bad_pred)
    tau = p.tau if p.mode == "threshold" else None
    if single and not has_bad and tau is None:
        # The common batch (one box against one box, all valid) in one tight loop.
        columns = zip(rows, fmts, iou_all.tolist(), val_all.tolist(), shaped_all.tolist(), pred_l, strict=True)
        for k, fmt, iou, val, reward, box in columns:
            out[k] = Score(
                reward,
                "ok",
                {"iou": iou, "n_pred": 1, "n_ref": 1, "pairs": [[0, 0, iou, val]], "boxes": [box], "format": fmt},
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
                out[k] = Score.unscorable(_REF_REASONS[code])
                continue
            code = bad_pred.get(row)
            if code is not None:
                out[k] = Score.unscorable(_PRED_REASONS[code], format=fmt)
                continue
        details: dict[str, Any]
        if matched is not None:
            pairs = []
            iou_sum = reward_sum = 0.0
            for i, j in zip(*matched, strict=True):
                iou_sum += iou_m[o]
                reward_sum += shaped_m[o]
                pairs.append([i, j, iou_m[o], val_m[o]])
                o += 1
            denom = max(npd, nr)
            iou = iou_sum / denom
            reward = reward_sum / denom
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
                out[k] = Score.unscorable("no box found in the answer")
                continue
            reward = iou = 0.0
            details = {"iou": 0.0, "n_pred": 0, "n_ref": nr, "rule": "no box found", "format": None}
        if tau is not None:
            details["tau"] = tau
        out[k] = Score(reward, "ok", details)

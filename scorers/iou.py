"""The ``iou`` reward: predicted boxes (or polygons) against reference ones.

Per item: find the boxes in the answer (`scorers.boxes`), bring both sides into one
coordinate space (`scorers.coords`), compute IoU and the chosen metric for every
predicted × reference pair (`scorers.box_metrics`), match them one to one by the Hungarian
method (`scorers.matching`) and shape the result:

    reward = Σ_matched shape(metric) / max(n_pred, n_ref)

(Visual-RFT's normaliser: misses and spam both cost). For one box
against one box this is just ``shape(metric)``. Shapes (``mode``):

- ``continuous``: the metric itself; GIoU/DIoU, which lie in (−1, 1], are mapped to [0, 1] by
  ``(v + 1) / 2`` so that every metric gives a reward in [0, 1] and profiles can mix them (IoU
  is left as is); CIoU the same, clipped at 0 (it dips to −1.5 for disjoint boxes of
  different shapes, where no ranking is worth a reward below 0).
- ``threshold``: ``1[v ≥ tau]`` (MedLoc-R1's ≥), or ``1[v > tau]`` with
  ``strict`` (VLM-R1's first release). ``tau`` is a param, which the scheduler layer sets.
- ``band``: 0 for ``v ≤ lo``, 1 for ``v ≥ hi``, linear between (Vision-R1's banded rule,
  made continuous).

``tau``, ``lo`` and ``hi`` apply to the raw metric value (GIoU in (−1, 1], not remapped).

Reference boxes are ``Item.boxes`` in original-image coordinates of the call's ``coords``
mode; ``boxes=[]`` says "nothing to find" (1.0 when nothing is predicted, else 0.0), while
``boxes`` missing makes the item unscorable. Items with ``polygons`` and no ``boxes`` go the
polygon way (`scorers.polygons`). Every scored item's details carry the raw ``iou``
(Σ matched IoU / max(n_pred, n_ref), whatever the metric and mode), which is what MedLoc-R1's
scheduler windows; ``pairs`` as ``(pred_index, ref_index, iou, metric)``; ``boxes``, the
predictions in the comparison space; ``format``, the box syntax that matched.

Details are tuples: ``pairs`` and ``boxes`` are tuples of 4-tuples (JSON arrays over HTTP, as
before). A batch's results outlive the call that made it, and the cyclic collector walks every
list among them on each pass; tuples of numbers it stops tracking after one pass. With lists
the collector cost ~8% of a 256-item batch (bench_iou, 2026-11-30: ratio to the baseline 0.97-1.00
with lists, 0.88 with tuples; ~0.90 with the collector off).

From `box_batch.SMALL_BATCH` items up, everything numeric runs once per batch in numpy
(`scorers.box_batch`) and the per-item Python is the regex and the checks of the item's
fields. Below it (per-sample traffic, trainers' per-device batches), one-box items go one by
one through plain floats (`score_one_box_item`), bit for bit the same results.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from functools import partial
from itertools import chain
from typing import Any, Literal

from pydantic import Field, model_validator

from scorers.box_batch import SMALL_BATCH, score_box_batch, score_one_box_item, shape_values
from scorers.box_metrics import Metric
from scorers.boxes import find_box_tokens
from scorers.coords import CoordMode, Frame, frame_for
from scorers.gc_pause import collector_paused
from scorers.polygons import score_polygon_item
from scorers.registry import Params, register
from scorers.types import Item, Score

Mode = Literal["continuous", "threshold", "band"]


class IouParams(Params):
    """Params of the ``iou`` reward (names fixed by the REST contract: clients hard-code them)."""

    mode: Mode = Field(default="continuous", description="continuous | threshold | band.")
    coords: CoordMode = Field(
        default="abs",
        description="abs (pixels; predictions in model-input pixels when input_size is given) | norm1 | norm1000.",
    )
    ref_coords: CoordMode | None = Field(
        default=None,
        description="Space of the reference boxes: abs | norm1 | norm1000; default: the same as coords. "
        "Mixing abs with a normalised space needs image_size.",
    )
    metric: Metric = Field(default="iou", description="iou | giou | diou | ciou.")
    # VLM-R1's original binary reward: IoU > 0.5; MedLoc-R1 starts its schedule at τ0=0.3.
    tau: float = Field(default=0.5, ge=-1.0, le=1.0, description="threshold mode: reward 1 when metric ≥ tau.")
    strict: bool = Field(default=False, description="threshold mode: use metric > tau (VLM-R1) instead of ≥.")
    # Vision-R1's first-stage band (0.5, 0.75).
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


# Pausing the cyclic collector (`scorers.gc_pause`) pays off once a batch leaves ~1024 predicted
# boxes' results (a Score, its details, their lists: ~6 small containers per box): one-box batches
# of 256-512 items ran ~5% slower paused (the one collection afterwards walks all their results at
# once), while 4096 one-box items, or 256 items of 10 boxes, ran ~5-8% faster (bench_iou,
# 2026-11-30). The registry pauses from 1024 items; the box maths pauses from 1024 boxes.
_PAUSE_BOXES = 1024

_UNSET = object()  # "no frame looked up yet" (None is a valid image size: absent)
_FOUR = {4}

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
    # What a batch allocates grows with its boxes, not its items: see _PAUSE_BOXES.
    gc_pause_items=_PAUSE_BOXES,
    one=score_one_box_item,
)
def iou_reward(items: Sequence[Item], params: IouParams) -> list[Score]:
    """Box IoU reward for a batch, in [0, 1] (see the module docstring for the rules).

    >>> items = [Item(completion="<answer>[0, 0, 10, 10]</answer>", boxes=[[0, 0, 10, 5]])]
    >>> s = iou_reward(items, IouParams())[0]
    >>> s.reward, s.details["iou"], s.details["pairs"]
    (0.5, 0.5, ((0, 0, 0.5, 0.5),))
    >>> iou_reward(items, IouParams(mode="threshold", tau=0.5))[0].reward
    1.0
    """
    n = len(items)
    if n >= SMALL_BATCH:
        return _iou_batch(items, params)
    # Below SMALL_BATCH items numpy's fixed cost outweighs what it saves: one-box items take the
    # plain-float path one by one, and whatever else the batch holds goes the batch path together.
    singles = [score_one_box_item(it, params) for it in items]
    if None not in singles:  # the usual batch: every item took the shortcut
        return singles  # type: ignore[return-value]  # no None left in it
    rest = [it for it, s in zip(items, singles, strict=True) if s is None]
    scored = iter(_iou_batch(rest, params))
    return [s if s is not None else next(scored) for s in singles]


def _iou_batch(items: Sequence[Item], params: IouParams) -> list[Score]:
    """`iou_reward` for any batch: the items' fields and boxes in one pass, then the numbers in numpy."""
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
                shape = partial(shape_values, p=p)
                out[k] = score_polygon_item(
                    it, p.coords, p.metric, max_boxes, p.clip, p.missing, shape, ref_coords=p.ref_coords
                )
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
                frame = frame_for(p.coords, img, inp, p.ref_coords)
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
            reason = frame_errors[-1 - fid]
            out[k] = Score.invalid(reason, "input_size" if "input_size" in reason else "image_size")
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
        if (len(ref[0]) != 4) if nr == 1 else (nr > 1 and set(map(len, ref)) != _FOUR):
            out[k] = Score.invalid("invalid reference box: needs 4 coordinates [x1, y1, x2, y2]", "boxes")
            continue
        if nr == 1:
            ref_flat += ref[0]
        else:
            ref_flat.extend(chain.from_iterable(ref))
        if npd == 1:
            pred_tok += found[0]
        else:
            pred_tok.extend(chain.from_iterable(found))
        meta.append((k, fmt, npd, nr, fid))

    if meta:
        rows, fmts, n_pred, n_ref, fids = (list(col) for col in zip(*meta, strict=True))
        with collector_paused() if len(pred_tok) >= 4 * _PAUSE_BOXES else nullcontext():
            score_box_batch(out, rows, fmts, n_pred, n_ref, fids, frames, pred_tok, ref_flat, p)
    return [s if s is not None else Score.error("internal: item was not scored") for s in out]

"""Coordinate modes for boxes, and the map from model-input pixels back to the image.

Every IoU is computed in one space per item, chosen so that the comparison is fair:

- ``abs``: pixels. Reference boxes (``Item.boxes``) are in original-image pixels. Predicted
  boxes are in original-image pixels too, *unless* the item carries both ``image_size`` and
  ``input_size``: then the model saw a resized image (Qwen2.5-VL's ``smart_resize``) and
  answers in model-input pixels, mapped back by ``x·W/input_w``, ``y·H/input_h`` (as VLM-R1
  and Vision-R1 do).
- ``norm1``: both in 0–1 of the image; ``norm1000``: both in 0–1000 (Qwen2-VL, Qwen3-VL,
  InternVL). With ``image_size`` both are mapped to image pixels, so that DIoU/CIoU see the
  real aspect ratio; without it they are compared in 0–1 space.
- ``ref_coords`` (a second mode for the references, default the same as ``coords``): a policy
  answering in 0–1000 is scored against references in pixels; both go to image pixels, so
  ``image_size`` is needed whenever one side is ``abs``.

``input_size`` without ``image_size`` in ``abs`` mode cannot be mapped and is an error, not
silently ignored: the caller meant a resize we cannot undo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from scorers.boxes import MAX_ABS_COORD

CoordMode = Literal["abs", "norm1", "norm1000"]
COORD_MODES: tuple[CoordMode, ...] = ("abs", "norm1", "norm1000")

# Images larger than this on a side are not real images but garbage sizes (whole-slide
# pathology tops out around 2e5 px); the bound keeps every product of coordinates finite.
MAX_SIDE = 10_000_000

# Qwen2-VL / Qwen2.5-VL processor (transformers image_processing_qwen2_vl.smart_resize):
# 14-px patches merged 2×2; VLM-R1's run defaults min_pixels=3136, max_pixels=12845056.
QWEN_FACTOR = 28
QWEN_MIN_PIXELS = 3136
QWEN_MAX_PIXELS = 12_845_056


@dataclass(frozen=True, slots=True)
class Frame:
    """How one item's boxes reach the comparison space.

    Predicted coordinates are multiplied by ``(pred_sx, pred_sy)``, reference ones by
    ``(ref_sx, ref_sy)``; ``bounds`` is ``(width, height)`` of the image in that space (for
    clipping predictions), or None when unknown.
    """

    pred_sx: float
    pred_sy: float
    ref_sx: float
    ref_sy: float
    bounds: tuple[float, float] | None
    # The per-sample shortcut's window: a scaled prediction with 0 < x1 <= x2 <= inside_w and
    # 0 < y1 <= y2 <= inside_h lies in the image (so needs no clipping) and every coordinate
    # as written is within ±MAX_ABS_COORD (so is valid). Without bounds the scale is 1 (abs mode
    # with no image size): the window is the valid range itself.
    inside_w: float = field(init=False, repr=False, compare=False)
    inside_h: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        w, h = self.bounds if self.bounds is not None else (MAX_ABS_COORD, MAX_ABS_COORD)
        object.__setattr__(self, "inside_w", w)  # frozen: the dataclass way to set a derived field
        object.__setattr__(self, "inside_h", h)


_UNIT = Frame(1.0, 1.0, 1.0, 1.0, None)
_NORM1 = Frame(1.0, 1.0, 1.0, 1.0, (1.0, 1.0))
_NORM1000 = Frame(1e-3, 1e-3, 1e-3, 1e-3, (1.0, 1.0))


def _valid_size(size: tuple[int, int]) -> bool:
    return len(size) == 2 and all(0 < s <= MAX_SIDE for s in size)


def _pixel_scale(
    mode: CoordMode, w: float, h: float, input_size: tuple[int, int] | None, predicted: bool
) -> tuple[float, float]:
    # image pixels per unit of ``mode``; predictions in abs mode come in model-input pixels when resized
    if mode == "norm1":
        return w, h
    if mode == "norm1000":
        return w / 1000.0, h / 1000.0
    if predicted and input_size is not None:
        return w / input_size[0], h / input_size[1]
    return 1.0, 1.0


def _mixed_frame(
    mode: CoordMode, ref_mode: CoordMode, image_size: tuple[int, int] | None, input_size: tuple[int, int] | None
) -> Frame | str:
    """Predictions in ``mode``, references in ``ref_mode``: both mapped to image pixels, or both to
    0-1 of the image when no size is given (possible only between the two normalised modes)."""
    if image_size is None:
        if "abs" in (mode, ref_mode):
            return f"coords={mode} and ref_coords={ref_mode} differ: image_size is needed to map one onto the other"
        ps = 1.0 if mode == "norm1" else 1e-3
        rs = 1.0 if ref_mode == "norm1" else 1e-3
        return Frame(ps, ps, rs, rs, (1.0, 1.0))
    w, h = float(image_size[0]), float(image_size[1])
    px, py = _pixel_scale(mode, w, h, input_size, True)
    rx, ry = _pixel_scale(ref_mode, w, h, None, False)
    return Frame(px, py, rx, ry, (w, h))


@lru_cache(maxsize=1024)  # a run's images come in a handful of sizes; Frame is immutable
def frame_for(
    mode: CoordMode,
    image_size: tuple[int, int] | None,
    input_size: tuple[int, int] | None,
    ref_mode: CoordMode | None = None,
) -> Frame | str:
    """The `Frame` for one item, or the reason it has none.

    ``ref_mode`` is the space of the reference boxes when it differs from the predictions'
    (``ref_coords``): a policy answering in 0-1000 (Qwen2-VL, InternVL) against references in
    pixels maps both to image pixels, which needs ``image_size``.

    >>> frame_for("norm1000", (2000, 1000), None, "abs")
    Frame(pred_sx=2.0, pred_sy=1.0, ref_sx=1.0, ref_sy=1.0, bounds=(2000.0, 1000.0))

    >>> frame_for("abs", (1000, 800), (500, 400))
    Frame(pred_sx=2.0, pred_sy=2.0, ref_sx=1.0, ref_sy=1.0, bounds=(1000.0, 800.0))
    >>> frame_for("norm1000", None, None).ref_sx
    0.001
    >>> frame_for("abs", (0, 10), None)
    'invalid image_size: each side must be in 1..10000000'
    """
    if image_size is not None and not _valid_size(image_size):
        return f"invalid image_size: each side must be in 1..{MAX_SIDE}"
    if input_size is not None and not _valid_size(input_size):
        return f"invalid input_size: each side must be in 1..{MAX_SIDE}"
    if ref_mode is not None and ref_mode != mode:
        if ref_mode not in COORD_MODES or mode not in COORD_MODES:
            return f"unknown coordinate mode {ref_mode if ref_mode not in COORD_MODES else mode!r}"
        if mode == "abs" and input_size is not None and image_size is None:
            return "input_size without image_size: cannot map model-input pixels to the image"
        return _mixed_frame(mode, ref_mode, image_size, input_size)
    if mode == "abs":
        if image_size is None:
            if input_size is not None:
                return "input_size without image_size: cannot map model-input pixels to the image"
            return _UNIT
        w, h = float(image_size[0]), float(image_size[1])
        if input_size is None:
            return Frame(1.0, 1.0, 1.0, 1.0, (w, h))
        return Frame(w / input_size[0], h / input_size[1], 1.0, 1.0, (w, h))
    if mode == "norm1":
        if image_size is None:
            return _NORM1
        w, h = float(image_size[0]), float(image_size[1])
        return Frame(w, h, w, h, (w, h))
    if mode == "norm1000":
        if image_size is None:
            return _NORM1000
        w, h = float(image_size[0]), float(image_size[1])
        return Frame(w / 1000.0, h / 1000.0, w / 1000.0, h / 1000.0, (w, h))
    return f"unknown coordinate mode {mode!r}"


def smart_resize(
    width: int,
    height: int,
    *,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> tuple[int, int]:
    """The model-input ``(width, height)`` Qwen2/2.5-VL's processor resizes an image to.

    Lets a client that knows only the original size and the processor's pixel limits fill
    ``Item.input_size`` (the same rule as transformers' ``smart_resize``).

    >>> smart_resize(1000, 800)
    (1008, 812)
    >>> smart_resize(3000, 3000, max_pixels=1003520)
    (980, 980)
    """
    if width <= 0 or height <= 0:
        raise ValueError("image sides must be positive")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def input_size_from_grid(image_grid_thw: tuple[int, int, int], patch: int = 14) -> tuple[int, int]:
    """Model-input ``(width, height)`` from Qwen2.5-VL's ``image_grid_thw`` (t, h, w patches).

    VLM-R1 computes ``input_h = grid[1]·14``, ``input_w = grid[2]·14``.

    >>> input_size_from_grid((1, 58, 72))
    (1008, 812)
    """
    return image_grid_thw[2] * patch, image_grid_thw[1] * patch

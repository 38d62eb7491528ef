"""Synthetic medical grounding: one lesion-like blob on a chest-film-like texture, boxes from real annotations.

Box sizes and positions are resampled from real radiologist boxes that ship inside ``torchxrayvision``:

- ``vindr`` (default): VinDr-CXR's training boxes (``vinbigdata-train.csv.gz``, 36k boxes by 17
  radiologists) for focal findings (nodule/mass, opacity, other lesion, infiltration, consolidation,
  calcification, atelectasis). The file carries no image sizes, so boxes are made relative to the
  99.9th percentile of ``x_max`` and ``y_max`` over the file (about 2850 × 3110 px: the extent of the
  larger DICOMs); smaller films make these relative sizes an under-estimate.
- ``nih``: ChestX-ray14's 984 boxes (``BBox_List_2017.csv.gz``), exact since every image is 1024 × 1024.

Each example draws one real box (relative centre, width and height), places it on an ``size`` × ``size``
canvas (sides at least ``min_side`` pixels: VinDr's median nodule is 3.6% of the film, 2 px at 64 px),
and paints an elliptical blob that fills it: round and sharp for a *mass*, irregular and diffuse for an
*opacity*. The reference box is the blob's box in pixels (``coords: abs``).
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from trainer.tasks.base import Example, answer_accuracy, iou_accuracy

FOCAL_VINDR = (
    "Nodule/Mass",
    "Lung Opacity",
    "Other lesion",
    "Infiltration",
    "Consolidation",
    "Calcification",
    "Atelectasis",
)
KINDS = ("mass", "opacity")
KNOWLEDGE = {
    "mass": "A mass or nodule is a round, well-defined, uniformly bright opacity.",
    "opacity": "An airspace opacity is an irregular, ill-defined, patchy brightening.",
}


def _csv_rows(name: str) -> list[list[str]]:
    # Located without importing torchxrayvision (installed --no-deps, its import needs packages we skip).
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("torchxrayvision is not installed: pip install --no-deps torchxrayvision")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    with gzip.open(path, "rt") as text:
        return [line.rstrip("\n").split(",") for line in text]


@lru_cache(maxsize=4)
def box_statistics(source: str = "vindr") -> np.ndarray:
    """Real boxes as relative ``(cx, cy, w, h)`` rows, (n, 4), read from torchxrayvision's shipped CSVs.

    >>> stats = box_statistics("nih"); stats.shape, bool((stats > 0).all() and (stats <= 1).all())
    ((984, 4), True)
    """
    if source == "nih":
        rows = _csv_rows("BBox_List_2017.csv.gz")[1:]
        xywh = np.array([[float(v) for v in r[2:6]] for r in rows]) / 1024.0  # ChestX-ray14: 1024 × 1024
        x, y, w, h = xywh.T
    elif source == "vindr":
        rows = _csv_rows("vinbigdata-train.csv.gz")
        col = {name: i for i, name in enumerate(rows[0])}
        boxes = np.array(
            [[float(r[col[k]]) for k in ("x_min", "y_min", "x_max", "y_max")] for r in rows[1:] if r[col["x_min"]]]
        )
        names = [r[col["class_name"]] for r in rows[1:] if r[col["x_min"]]]
        extent = np.quantile(boxes[:, 2:], 0.999, axis=0)  # no image sizes in the file: see the module docstring
        focal = np.array([n in FOCAL_VINDR for n in names])
        boxes = boxes[focal] / np.concatenate([extent, extent])
        x, y = boxes[:, 0], boxes[:, 1]
        w, h = boxes[:, 2] - x, boxes[:, 3] - y
    else:
        raise ValueError(f"unknown box source {source!r} (use 'vindr' or 'nih')")
    stats = np.stack([x + w / 2, y + h / 2, w, h], axis=1).clip(1e-3, 1.0)
    return stats[(stats[:, 2] > 1e-3) & (stats[:, 3] > 1e-3)]


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """Chest-film-like texture: smooth low-frequency shading, rib-like bands and grain, (size, size)."""
    coarse = rng.normal(size=(6, 6))
    xs = np.linspace(0, 5, size)
    # bilinear upsampling of a 6×6 field: smooth soft-tissue shading
    i0 = np.floor(xs).astype(int).clip(0, 4)
    f = xs - i0
    rows = coarse[i0] * (1 - f)[:, None] + coarse[i0 + 1] * f[:, None]
    smooth = rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]
    yy = np.arange(size)[:, None] / size
    period = rng.uniform(0.12, 0.2)
    ribs = 0.5 + 0.5 * np.sin(2 * np.pi * (yy / period + rng.uniform()) + 0.6 * np.sin(np.arange(size) / size * 3))
    img = 0.35 + 0.06 * smooth + 0.08 * ribs + 0.04 * rng.normal(size=(size, size))
    return img.astype(np.float32)


def _blob(size: int, box: tuple[int, int, int, int], kind: str, rng: np.random.Generator) -> np.ndarray:
    """An elliptical lesion filling ``box`` (x1, y1, x2, y2 inclusive-exclusive), (size, size) in [0, 1]."""
    x1, y1, x2, y2 = box
    cx, cy, ax, ay = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    r = np.sqrt(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2)
    if kind == "mass":
        blob = (r <= 1.0).astype(np.float32)
    else:  # opacity: the same support, patchy inside
        blob = (r <= 1.0) * (0.55 + 0.45 * rng.uniform(size=(size, size)))
    return blob.astype(np.float32)


@dataclass
class GroundingTask:
    """Find the lesion: the policy answers ``<think>…</think><answer>[x1,y1,x2,y2]</answer>`` in pixels.

    Args:
        size: canvas side in pixels.
        source: real box statistics, ``vindr`` or ``nih``.
        min_side: smallest box side in pixels.
        contrast: blob brightness over the background, drawn uniformly from this range.
        profile: the service profile (default ``grounding-medloc``: format + IoU at the run's τ).
        scheduler: the run's scheduler.
        knowledge: put the lesion description into the prompt and the ``knowledge`` field (VRFT-Aug).
    """

    size: int = 64
    source: str = "vindr"
    min_side: int = 4
    contrast: tuple[float, float] = (0.25, 0.45)
    profile: str | dict[str, Any] = "grounding-medloc"
    scheduler: str | None = "medloc"
    knowledge: bool = False
    name: str = "grounding"

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int], str]:
        """One image (size, size), its lesion box in pixels, and the lesion kind."""
        stats = box_statistics(self.source)
        cx, cy, w, h = stats[rng.integers(len(stats))]
        s = self.size
        bw = int(np.clip(round(w * s), self.min_side, s - 2))
        bh = int(np.clip(round(h * s), self.min_side, s - 2))
        x1 = int(np.clip(round(cx * s - bw / 2), 0, s - bw))
        y1 = int(np.clip(round(cy * s - bh / 2), 0, s - bh))
        box = (x1, y1, x1 + bw, y1 + bh)
        kind = KINDS[int(rng.integers(len(KINDS)))]
        img = _background(s, rng) + rng.uniform(*self.contrast) * _blob(s, box, kind, rng)
        return np.clip(img, 0.0, 1.0).astype(np.float32), box, kind

    def sample(self, n: int, rng: np.random.Generator) -> list[Example]:
        out = []
        for _ in range(n):
            img, box, kind = self.draw(rng)
            prompt = (
                f"Locate the lesion in this {self.size}x{self.size} chest image. Think inside <think></think>, "
                "then give its box as <answer>[x1,y1,x2,y2]</answer> in pixels."
            )
            fields: dict[str, Any] = {"boxes": [list(box)], "image_size": [self.size, self.size]}
            if self.knowledge:
                prompt = f"{KNOWLEDGE[kind]} {prompt}"
                fields["knowledge"] = KNOWLEDGE[kind]
            target = f"<think>{describe_box(box)}</think><answer>[{box[0]},{box[1]},{box[2]},{box[3]}]</answer>"
            out.append(Example(prompt, fields, target, image=img, slots="box", meta={"kind": kind, "box": box}))
        return out

    def accuracy(self, components: dict[str, list[float | None]], details: Sequence[dict[str, Any]]) -> list[float]:
        return iou_accuracy(details, 0.5)


@dataclass
class LesionTypeTask(GroundingTask):
    """Classify the lesion (A mass / B opacity) on the same images: the main task after a perception stage."""

    profile: str | dict[str, Any] = "vqa-mcq"
    scheduler: str | None = None
    name: str = "lesion-type"

    def sample(self, n: int, rng: np.random.Generator) -> list[Example]:
        out = []
        for ex in super().sample(n, rng):
            kind = ex.meta["kind"]
            letter = "A" if kind == "mass" else "B"
            prompt = "Which finding is shown? A) mass B) opacity. Answer with the letter in <answer></answer>."
            fields: dict[str, Any] = {"reference": letter, "options": {"A": "mass", "B": "opacity"}, "kind": "mcq"}
            if self.knowledge:
                prompt = f"{KNOWLEDGE['mass']} {KNOWLEDGE['opacity']} {prompt}"
                fields["knowledge"] = f"{KNOWLEDGE['mass']} {KNOWLEDGE['opacity']}"
            target = f"<think>the lesion looks like a {kind}</think><answer>{letter}</answer>"
            out.append(Example(prompt, fields, target, image=ex.image, slots="choice:AB", meta=ex.meta))
        return out

    def accuracy(self, components: dict[str, list[float | None]], details: Sequence[dict[str, Any]]) -> list[float]:
        return answer_accuracy(components)


def describe_box(box: Sequence[int]) -> str:
    """The reasoning a constrained policy writes for a box: where it is and how big.

    >>> describe_box((10, 20, 18, 30))
    'lesion centred at (14,25), 8x10 px'
    """
    x1, y1, x2, y2 = box
    return f"lesion centred at ({(x1 + x2) // 2},{(y1 + y2) // 2}), {x2 - x1}x{y2 - y1} px"

"""User datasets as JSON Lines: one prompt per line, scored by a profile of the service.

Schema (one JSON object per line)::

    {"prompt": "Is there a pneumothorax? ...",       # required: the text the policy sees
     "reference": "no",                              # the service's Item fields, sent as they are:
     "kind": "closed", "options": {...}, "grades": [...], "boxes": [[x1, y1, x2, y2]],
     "image_size": [w, h], "knowledge": "...",
     "target": "<think>...</think><answer>no</answer>",  # optional: a correct completion (SFT warm start)
     "image": "path/to/image.png"}                   # optional: a grayscale image, for image policies

Unknown keys are an error (a typo would silently drop a reference). Prompts are drawn uniformly
with replacement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer.tasks.base import Example, answer_accuracy, iou_accuracy
from trainer.tasks.vqa import PROFILE

ITEM_FIELDS = {"reference", "kind", "options", "grades", "boxes", "image_size", "input_size", "knowledge"}
ALLOWED = ITEM_FIELDS | {"prompt", "target", "image"}


def _load_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def read_examples(path: str | Path, knowledge: bool = False) -> list[Example]:
    """Parse and check a JSONL file; ValueError naming the line and field on a bad row."""
    path = Path(path)
    out = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not row["prompt"]:
            raise ValueError(f"{path}:{n}: each line needs a non-empty string 'prompt'")
        unknown = sorted(set(row) - ALLOWED)
        if unknown:
            allowed = ", ".join(sorted(ALLOWED))
            raise ValueError(f"{path}:{n}: unknown field(s) {', '.join(unknown)} (allowed: {allowed})")
        fields = {k: v for k, v in row.items() if k in ITEM_FIELDS}
        prompt = row["prompt"]
        if knowledge and row.get("knowledge"):
            prompt = f"Knowledge: {row['knowledge']} {prompt}"
        elif not knowledge:
            fields.pop("knowledge", None)
        image = _load_image(path.parent / row["image"]) if row.get("image") else None
        slots = "box" if "boxes" in fields and image is not None else "text"
        out.append(Example(prompt, fields, row.get("target", ""), image=image, slots=slots))
    if not out:
        raise ValueError(f"{path}: no examples")
    return out


@dataclass
class JSONLTask:
    """Examples from a JSONL file (schema in the module docstring)."""

    path: str
    knowledge: bool = False
    profile: str | dict[str, Any] = field(default_factory=lambda: dict(PROFILE))
    scheduler: str | None = None
    name: str = "jsonl"

    def __post_init__(self) -> None:
        self.examples = read_examples(self.path, self.knowledge)
        self.grounding = all("boxes" in ex.fields for ex in self.examples)
        if self.grounding:  # box references: IoU against them under a MedLoc-R1 schedule
            self.profile, self.scheduler = "grounding-medloc", "medloc"

    def sample(self, n: int, rng: np.random.Generator) -> list[Example]:
        return [self.examples[int(i)] for i in rng.integers(len(self.examples), size=n)]

    def accuracy(self, components: dict[str, list[float | None]], details: Sequence[dict[str, Any]]) -> list[float]:
        return iou_accuracy(details) if self.grounding else answer_accuracy(components)

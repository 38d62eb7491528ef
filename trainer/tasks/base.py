"""What a task hands the trainer: prompts (text, optionally an image) and the scoring fields of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

ANSWER_TEMPLATE = "<think>...</think><answer>...</answer>"


@dataclass
class Example:
    """One prompt and its reference.

    ``fields`` are the service's Item fields other than ``completion`` and ``group`` (``reference``,
    ``kind``, ``options``, ``grades``, ``boxes``, ``image_size``, ``knowledge`` ...), sent as they are.
    ``target`` is a correct completion, for the SFT warm start; ``slots`` tells a constrained policy
    what it must write (``"box"`` or ``"choice:ABCD"``).
    """

    prompt: str
    fields: dict[str, Any]
    target: str
    image: np.ndarray | None = None  # (H, W) float32 in [0, 1]
    slots: str = "text"
    meta: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    """A source of examples and how the service scores them."""

    name: str
    profile: str | dict[str, Any]  # a profile name the service knows, or an inline profile
    scheduler: str | None  # the run's scheduler ("medloc", "fixed", "step"), None for no run state

    def sample(self, n: int, rng: np.random.Generator) -> list[Example]:
        """``n`` examples drawn with ``rng``."""
        ...

    def accuracy(self, components: dict[str, list[float | None]], details: Sequence[dict[str, Any]]) -> list[float]:
        """Per completion: 1.0 if correct (grounding: IoU ≥ 0.5), else 0.0, read from the service's response."""
        ...


def answer_accuracy(components: dict[str, list[float | None]]) -> list[float]:
    """Correct when the ``answer`` component is 1 (an abstention counts as wrong)."""
    return [1.0 if a is not None and a >= 1.0 - 1e-9 else 0.0 for a in components.get("answer", [])]


def iou_accuracy(details: Sequence[dict[str, Any]], threshold: float = 0.5) -> list[float]:
    """A@threshold: the service's IoU (details ``iou.iou``) at or above ``threshold``."""
    out = []
    for d in details:
        iou = (d.get("iou") or {}).get("iou")
        out.append(1.0 if isinstance(iou, int | float) and iou >= threshold else 0.0)
    return out


def service_ious(details: Sequence[dict[str, Any]]) -> list[float | None]:
    """The service's IoU per completion (None where it could not compute one)."""
    out: list[float | None] = []
    for d in details:
        iou = (d.get("iou") or {}).get("iou")
        out.append(float(iou) if isinstance(iou, int | float) else None)
    return out

"""Text VQA over short radiology findings: closed (yes/no), multiple choice and ordinal (severity) questions.

Each question is generated from a finding sentence (finding, side, severity, possibly negated), so a
text-only language model can answer it from the prompt; the service scores the ``<answer>`` with
the ``answer`` reward of the item's ``kind`` (negation- and laterality-aware) plus ``format``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.tasks.base import Example, answer_accuracy

FINDINGS = {
    "pleural effusion": "A pleural effusion is fluid between lung and chest wall; it blunts the costophrenic angle.",
    "pneumothorax": "A pneumothorax is air in the pleural space; the lung edge is visible with no markings beyond it.",
    "consolidation": "Consolidation is airspace filled with fluid or cells: a dense opacity with air bronchograms.",
    "nodule": "A nodule is a round opacity up to 3 cm; larger ones are called masses.",
    "atelectasis": "Atelectasis is collapse of lung tissue, with volume loss and shift of fissures.",
}
GRADES = ["none", "mild", "moderate", "severe"]
SIDES = ["left", "right"]
KINDS = ("closed", "mcq", "ordinal")
PROFILE: dict[str, Any] = {
    "description": "Text VQA: format 0.2 + answer 0.8, the answer kind given per item.",
    "components": [{"reward": "format", "weight": 0.2}, {"reward": "answer", "weight": 0.8}],
}
FORMAT = "Think inside <think></think>, then answer inside <answer></answer>."


@dataclass
class VQATask:
    """Closed, MCQ and ordinal questions in equal shares (or only ``kinds``).

    Args:
        kinds: which question kinds to draw.
        knowledge: prefix the finding's definition to the prompt and send it as ``knowledge`` (VRFT-Aug).
    """

    kinds: Sequence[str] = KINDS
    knowledge: bool = False
    profile: str | dict[str, Any] = field(default_factory=lambda: dict(PROFILE))
    scheduler: str | None = None
    name: str = "vqa"

    def one(self, rng: np.random.Generator) -> Example:
        finding = list(FINDINGS)[int(rng.integers(len(FINDINGS)))]
        side = SIDES[int(rng.integers(2))]
        grade = GRADES[int(rng.integers(1, 4))]
        present = bool(rng.integers(2))
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        report = f"Report: {grade} {side} {finding}." if present else f"Report: no {finding}."
        fields: dict[str, Any] = {"kind": kind}
        if kind == "closed":
            question, answer = f"Is there a {finding}? Answer yes or no.", "yes" if present else "no"
            fields["reference"] = answer
        elif kind == "mcq":
            options = {"A": "left", "B": "right", "C": "both sides", "D": "absent"}
            letter = ("A" if side == "left" else "B") if present else "D"
            question = f"Where is the {finding}? " + " ".join(f"{k}) {v}" for k, v in options.items())
            question += " Answer with the letter."
            fields |= {"reference": letter, "options": options}
            answer = letter
        else:
            answer = grade if present else "none"
            question = f"How severe is the {finding}? Choose one of: {', '.join(GRADES)}."
            fields |= {"reference": answer, "grades": GRADES}
        prompt = f"{report} {question} {FORMAT}"
        if self.knowledge:
            prompt = f"Knowledge: {FINDINGS[finding]} {prompt}"
            fields["knowledge"] = FINDINGS[finding]
        target = f"<think>The report says: {report[8:]}</think><answer>{answer}</answer>"
        return Example(prompt, fields, target, meta={"kind": kind})

    def sample(self, n: int, rng: np.random.Generator) -> list[Example]:
        return [self.one(rng) for _ in range(n)]

    def accuracy(self, components: dict[str, list[float | None]], details: Sequence[dict[str, Any]]) -> list[float]:
        return answer_accuracy(components)

"""Built-in profiles for the common medical VLM tasks.

Weights follow the R1-style recipes the papers build on: accuracy + format with unit weights
(VLM-R1, inherited by MedLoc-R1), renormalised here so totals stay
in [0, 1]. Where a paper gives no weights (VQA), format is a minor term so that a well-formed
wrong answer cannot outscore a correct one.
"""

from __future__ import annotations

from typing import Any

_FORMAT: dict[str, Any] = {"reward": "format", "weight": 0.2}

# Plain data, validated into `app.profiles.Profile` when the service starts.
PRESETS: dict[str, dict[str, Any]] = {
    "vqa-closed": {
        "description": "Closed (yes/no) VQA: answer correctness + think/answer format.",
        "components": [_FORMAT, {"reward": "answer", "weight": 0.8}],
        "answer_kind": "closed",
    },
    "vqa-mcq": {
        "description": "Multiple-choice VQA: letter or option text against the reference.",
        "components": [_FORMAT, {"reward": "answer", "weight": 0.8}],
        "answer_kind": "mcq",
    },
    "vqa-open": {
        "description": "Open VQA: normalised answer match plus meaning agreement (negation/laterality aware).",
        "components": [_FORMAT, {"reward": "answer", "weight": 0.4}, {"reward": "semantic", "weight": 0.4}],
        "answer_kind": "open",
    },
    # VRFT-Aug: partial credit by grade distance on ordinal scales (medically informed shaping).
    "grading": {
        "description": "Severity grading on an ordinal scale: partial credit by grade distance.",
        "components": [_FORMAT, {"reward": "answer", "weight": 0.8}],
        "answer_kind": "ordinal",
    },
    # MedLoc-R1: binary 1[IoU >= tau] with tau scheduled server-side; accuracy + format with unit
    # weights as in VLM-R1, which MedLoc-R1 builds on.
    "grounding-medloc": {
        "description": "Lesion grounding with MedLoc-R1's adaptive IoU threshold (send run_id and group).",
        "components": [
            {"reward": "format", "weight": 1.0},
            {"reward": "iou", "weight": 1.0, "params": {"mode": "threshold"}},
        ],
        "scheduler": {"type": "medloc"},
    },
}

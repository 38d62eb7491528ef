"""Pure reward functions for medical VLM fine-tuning, behind one registry.

``scorers.score(name, items, params)`` is the in-process entry point: the service calls the
same function, so training in-process (TRL, verl workers) gives exactly the service's rewards.
"""

from scorers.gc_pause import freeze_heap
from scorers.registry import REGISTRY, Params, RewardSpec, UnknownRewardError, get_reward, register, score
from scorers.types import Item, Score, Status

# Importing a reward module registers it. Keep one line per module, sorted.
from scorers import answer  # noqa: E402,F401  isort: skip
from scorers import format_reward  # noqa: E402,F401  isort: skip
from scorers import iou  # noqa: E402,F401  isort: skip
from scorers import length  # noqa: E402,F401  isort: skip
from scorers import recitation  # noqa: E402,F401  isort: skip
from scorers import repetition  # noqa: E402,F401  isort: skip
from scorers import semantic  # noqa: E402,F401  isort: skip

__all__ = [
    "REGISTRY",
    "Item",
    "Params",
    "RewardSpec",
    "Score",
    "Status",
    "UnknownRewardError",
    "freeze_heap",
    "get_reward",
    "register",
    "score",
]

"""MedLoc-R1's sliding-window performance tracker: one entry per prompt group (or per training step).

Each entry is (group-mean reward, group-mean IoU, the raw IoUs). The raw IoUs are kept so
that a refresh after a raise may re-score the kept entries under the new τ
(the paper's r̄ₖ counts hits at the current τ; the port keeps the old rewards).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class WindowStats:
    """The three statistics of MedLoc-R1 §1.3 over the window's entries."""

    size: int
    mean_reward: float
    std_reward: float
    mean_iou: float


class Window:
    """A bounded FIFO of group entries with the window statistics.

    >>> w = Window(capacity=2)
    >>> w.append(1.0, 0.9, [0.9]); w.append(0.0, 0.2, [0.2]); w.append(1.0, 0.6, [0.6])
    >>> w.stats()
    WindowStats(size=2, mean_reward=0.5, std_reward=0.5, mean_iou=0.4)
    """

    def __init__(self, capacity: int, entries: Iterable[Any] = ()) -> None:
        self.capacity = capacity
        self._entries: deque[tuple[float, float, list[float]]] = deque(maxlen=capacity)
        for mean_reward, mean_iou, ious in entries:
            entry = (float(mean_reward), float(mean_iou), [float(x) for x in ious])
            if not ious or not all(math.isfinite(x) for x in (entry[0], entry[1], *entry[2])):
                raise ValueError("window entries need finite numbers and at least one IoU")
            self._entries.append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def full(self) -> bool:
        return len(self._entries) >= self.capacity

    def append(self, mean_reward: float, mean_iou: float, ious: list[float]) -> None:
        self._entries.append((mean_reward, mean_iou, ious))

    def merge_newest(self, ious: list[float], reward_of: Any, limit: int) -> None:
        """Add ``ious`` to the newest entry (one entry per training step), re-deriving its means.

        The entry keeps at most ``limit`` raw IoUs (the first ones), so that its size is bounded
        however many groups a step has; its statistics are then those of that sample.
        """
        _, _, old = self._entries.pop()
        merged = (old + ious)[:limit]
        self._entries.append(
            (sum(reward_of(x) for x in merged) / len(merged), math.fsum(merged) / len(merged), merged)
        )

    def keep_newest(self, n: int) -> None:
        """Drop all but the newest ``n`` entries (the semi-preserved refresh)."""
        while len(self._entries) > max(n, 0):
            self._entries.popleft()

    def rescore(self, reward_of: Any) -> None:
        """Recompute each entry's mean reward from its raw IoUs with ``reward_of(iou) -> float``."""
        self._entries = deque(
            ((sum(reward_of(x) for x in ious) / len(ious), iou, ious) for _, iou, ious in self._entries),
            maxlen=self.capacity,
        )

    def stats(self) -> WindowStats | None:
        """Mean reward, population std of the group-mean rewards, mean IoU; None when empty.

        σ is over the per-group means, population form (the port's reading of the paper;
        σ over all binary rewards would tie it to the mean and make S=0.2 unreachable).
        """
        n = len(self._entries)
        if n == 0:
            return None
        rewards = [e[0] for e in self._entries]
        mean_reward = math.fsum(rewards) / n
        var = math.fsum((r - mean_reward) ** 2 for r in rewards) / n
        mean_iou = math.fsum(e[1] for e in self._entries) / n
        return WindowStats(size=n, mean_reward=mean_reward, std_reward=math.sqrt(var), mean_iou=mean_iou)

    def to_list(self) -> list[list[Any]]:
        return [[r, iou, list(ious)] for r, iou, ious in self._entries]

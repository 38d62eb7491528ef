"""What the client returns: typed results of the scoring routes, and the service's errors as an exception."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MedRewardError", "RewardResult", "ScoreResult", "merge_rewards", "merge_scores"]


class MedRewardError(Exception):
    """A call the service refused or that could not be made.

    Attributes:
        status: the HTTP status; None when no answer came (``code`` ``timeout`` or ``unreachable``) or the
            client refused to send (``invalid_item``: NaN or infinity, which JSON cannot carry).
        code: the service's machine-readable code (``invalid_field``, ``run_not_found``, ...).
        message: what to fix, as the service wrote it.
        field: the offending request field (``items[3].boxes``), when the service named one.
        request_id: the id the call carried.
    """

    def __init__(
        self, status: int | None, code: str, message: str, field: str | None = None, request_id: str | None = None
    ) -> None:
        where = f" ({field})" if field else ""
        super().__init__(f"{'' if status is None else f'{status} '}{code}: {message}{where}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable with its fields: AReaL and verl move exceptions between processes.
        return (type(self), (self.status, self.code, self.message, self.field, self.request_id))


def _floats(values: list[Any]) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


@dataclass(frozen=True)
class ScoreResult:
    """``POST /v1/score``: the weighted total per item and every component (None = abstained).

    ``reasons[i]`` says why ``rewards[i]`` is None (a required component abstained, or every
    component did); it is None where the total stands.
    """

    rewards: list[float | None]
    components: dict[str, list[float | None]]
    status: list[str]
    reasons: list[str | None]
    details: list[dict[str, Any]]
    weights: dict[str, float]
    schedule: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def abstained(self) -> list[bool]:
        """Per item: the total is None (the item must not count as a zero)."""
        return [r is None for r in self.rewards]

    @property
    def tau(self) -> float | None:
        """The run's IoU threshold after this call (with ``run_id``)."""
        tau = (self.schedule or {}).get("tau")
        return float(tau) if isinstance(tau, int | float) else None

    def item_reason(self, i: int) -> str | None:
        """Why item ``i`` has no total: the service's reason, else the first abstaining component's."""
        if self.rewards[i] is not None:
            return None
        if self.reasons[i]:
            return self.reasons[i]
        for name, values in self.components.items():
            if values[i] is None:
                detail = self.details[i].get(name) if i < len(self.details) else None
                why = detail.get("reason") if isinstance(detail, dict) else None
                return f"{name} abstained" + (f": {why}" if why else "")
        return "no component scored this item"

    @classmethod
    def from_json(cls, doc: Any) -> ScoreResult:
        rewards = _floats(doc["rewards"])
        n = len(rewards)
        # `reasons` is newer than the first servers: absent means "not said", never "scored".
        reasons = doc.get("reasons") or [None] * n
        return cls(
            rewards=rewards,
            components={k: _floats(v) for k, v in doc.get("components", {}).items()},
            status=list(doc.get("status") or ["ok"] * n),
            reasons=[None if r is None else str(r) for r in reasons],
            details=list(doc.get("details") or [{} for _ in range(n)]),
            weights={k: float(v) for k, v in doc.get("weights", {}).items()},
            schedule=doc.get("schedule"),
        )


@dataclass(frozen=True)
class RewardResult:
    """``POST /v1/rewards/{name}``: one reward per item (None = the reward abstains; ``status``
    says how and ``reasons`` why)."""

    rewards: list[float | None]
    status: list[str]
    details: list[dict[str, Any]]
    schedule: dict[str, Any] | None = None
    reasons: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rewards)

    @classmethod
    def from_json(cls, doc: Any) -> RewardResult:
        rewards = _floats(doc["rewards"])
        # Absent from older servers' answers: then each abstention's details say why, when sent.
        reasons = doc.get("reasons") or [None] * len(rewards)
        return cls(
            rewards=rewards,
            status=list(doc.get("status") or ["ok"] * len(rewards)),
            details=list(doc.get("details") or [{} for _ in rewards]),
            schedule=doc.get("schedule"),
            reasons=[None if r is None else str(r) for r in reasons],
        )


def _scatter(parts: list[list[Any]], positions: list[list[int]], size: int) -> list[Any]:
    """Chunk results back to the caller's order: ``positions[k][j]`` is where ``parts[k][j]`` goes."""
    out: list[Any] = [None] * size
    for values, where in zip(parts, positions, strict=True):
        if len(values) != len(where):
            raise ValueError(f"the service returned {len(values)} results for {len(where)} items")
        for v, i in zip(values, where, strict=True):
            out[i] = v
    return out


def merge_scores(parts: list[ScoreResult], positions: list[list[int]], size: int) -> ScoreResult:
    """One `ScoreResult` from the chunks' results; the schedule is the last chunk's (the newest state)."""
    if len(parts) == 1 and positions[0] == list(range(size)):
        return parts[0]
    names = list(parts[0].components)
    return ScoreResult(
        rewards=_scatter([p.rewards for p in parts], positions, size),
        components={
            k: _scatter([p.components.get(k, [None] * len(p)) for p in parts], positions, size) for k in names
        },
        status=_scatter([p.status for p in parts], positions, size),
        reasons=_scatter([p.reasons for p in parts], positions, size),
        details=_scatter([p.details for p in parts], positions, size),
        weights=parts[0].weights,
        schedule=parts[-1].schedule,
    )


def merge_rewards(parts: list[RewardResult], positions: list[list[int]], size: int) -> RewardResult:
    """One `RewardResult` from the chunks' results; the schedule is the last chunk's."""
    if len(parts) == 1 and positions[0] == list(range(size)):
        return parts[0]
    return RewardResult(
        rewards=_scatter([p.rewards for p in parts], positions, size),
        status=_scatter([p.status for p in parts], positions, size),
        details=_scatter([p.details for p in parts], positions, size),
        schedule=parts[-1].schedule,
        reasons=_scatter([p.reasons or [None] * len(p) for p in parts], positions, size),
    )


def nan_if_none(value: float | None) -> float:
    """None (abstained) → NaN, for trainers that log floats only.

    >>> nan_if_none(None) != nan_if_none(None), nan_if_none(0.5)
    (True, 0.5)
    """
    return math.nan if value is None else value

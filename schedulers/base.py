"""The contract between the service and the schedule/state layer.

The service never touches a scheduler directly: it asks a `RunStore` to ``report`` the raw
IoUs of one or more GRPO groups, and the store, atomically (one transaction, Lua script or
WATCH/MULTI), scores each group with the τ in force when it arrives, updates the schedule
and returns the rewards. A report that carries a ``request_id`` seen before returns the
stored result and changes nothing (trainers retry 5–10 times).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class GroupReport:
    """One GRPO group's raw IoUs (one per completion; None = the item was unscorable)."""

    group: str
    ious: Sequence[float | None]


@dataclass(frozen=True)
class GroupResult:
    """The rewards a group got, with the τ that scored it and whether it raised τ."""

    group: str
    rewards: list[float | None]
    tau: float
    raised: bool = False


@dataclass(frozen=True)
class ReportResult:
    groups: list[GroupResult]
    run: dict[str, Any]
    """The run's public state after the report (see `RunStore.get_run`)."""
    replayed: bool = False
    """True when the request_id was seen before and this is the stored result."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    scheduler: str
    config: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)


class RunNotFoundError(KeyError):
    """The run does not exist for this tenant (another tenant's run is not found either)."""


class RunExistsError(ValueError):
    """A run with this id already exists for this tenant."""


class RunStore(Protocol):
    """Durable, tenant-scoped run state. Implementations: memory, sqlite, redis."""

    def create_run(self, tenant: str, run_id: str, scheduler: str, config: dict[str, Any]) -> dict[str, Any]: ...

    def get_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        """``{"run_id", "scheduler", "config", "tau", "step", "groups", "window": {...}, "raises": [...]}``."""
        ...

    def list_runs(self, tenant: str) -> list[dict[str, Any]]: ...

    def delete_run(self, tenant: str, run_id: str) -> None: ...

    def reset_run(self, tenant: str, run_id: str) -> dict[str, Any]: ...

    def history(self, tenant: str, run_id: str) -> list[dict[str, Any]]:
        """Every raise: step, τ before/after and the three statistics that allowed it."""
        ...

    def report(
        self,
        tenant: str,
        run_id: str,
        groups: Sequence[GroupReport],
        *,
        step: int | None = None,
        request_id: str | None = None,
    ) -> ReportResult: ...

    def tau(self, tenant: str, run_id: str) -> float:
        """The τ in force now (for rewards that only read it)."""
        ...

    # Tenant-scoped named documents (profiles saved over the API), so that they survive a
    # restart and are shared by every replica.
    def put_doc(self, tenant: str, kind: str, name: str, doc: dict[str, Any]) -> None: ...

    def get_doc(self, tenant: str, kind: str, name: str) -> dict[str, Any] | None: ...

    def delete_doc(self, tenant: str, kind: str, name: str) -> bool: ...

    def list_docs(self, tenant: str, kind: str) -> dict[str, dict[str, Any]]: ...

    def ping(self) -> bool:
        """The store is reachable (for /readyz)."""
        ...

    def close(self) -> None: ...

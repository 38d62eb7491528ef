"""The contract between the service and the schedule/state layer.

The service never touches a scheduler directly: it asks a `RunStore` to ``report`` the raw
IoUs of one or more GRPO groups, and the store, atomically (one SQLite transaction, or Redis
WATCH/MULTI), scores each group with the τ in force when it arrives, updates the schedule
and returns the rewards. A report that carries a ``request_id`` seen before returns the
stored result and changes nothing (trainers retry 5–10 times).

Get a store with ``schedulers.stores.open_store(url)`` (``memory://``, ``sqlite:///path.db``,
``redis://host:port/db``). Errors the API maps to HTTP statuses:

- `RunNotFoundError` (a `KeyError`) → 404; another tenant's run is not found either.
- `RunExistsError` → 409.
- `RequestConflictError` → 409: a ``request_id`` reused for other groups or IoUs.
- `SchedulerConfigError` (a `ValueError`, with ``.field``) → 422: unknown scheduler name or
  a bad config field.

The public run dict (``get_run``, ``create_run``, ``ReportResult.run``)::

    {"run_id": "r1", "scheduler": "medloc", "config": {...all fields with defaults...},
     "tau": 0.45,            # the τ in force now
     "step": 12,             # the last training step reported (or the count of reports)
     "groups": 240,          # groups counted, each report counted once
     "reports": 30,          # report calls applied (replays not included)
     "window": {"size", "capacity", "mean_reward", "std_reward", "mean_iou", "margin", ...},
     "raises": [{"step", "group", "tau_before", "tau_after", "mean_reward", "std_reward",
                 "mean_iou", "margin", ...}, ...],
     "created_at": 1.7e9, "updated_at": 1.7e9}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from schedulers.stores.doc_merge import DocMerge


@dataclass(frozen=True)
class GroupReport:
    """One GRPO group's raw IoUs (one per completion; None = the item was unscorable).

    Unscorable items get reward None and are left out of the group's statistics; a group
    with no scorable item is counted but adds no window entry.
    """

    group: str
    ious: Sequence[float | None]


@dataclass(frozen=True)
class GroupResult:
    """The rewards a group got, with the τ that scored it and whether it then raised τ."""

    group: str
    rewards: list[float | None]
    tau: float
    raised: bool = False


@dataclass(frozen=True)
class ReportResult:
    """What one ``report`` call returns (and what a replay of its request_id returns again)."""

    groups: list[GroupResult]
    run: dict[str, Any]
    """The run's public state after the report (see `RunStore.get_run`)."""
    replayed: bool = False
    """True when the request_id was seen before and this is the stored result."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the stores persist for idempotent replays)."""
        groups = [{"group": g.group, "rewards": g.rewards, "tau": g.tau, "raised": g.raised} for g in self.groups]
        return {"groups": groups, "run": self.run, "replayed": self.replayed}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, replayed: bool | None = None) -> ReportResult:
        groups = [
            GroupResult(group=g["group"], rewards=list(g["rewards"]), tau=g["tau"], raised=g.get("raised", False))
            for g in data["groups"]
        ]
        return cls(groups=groups, run=data["run"], replayed=data["replayed"] if replayed is None else replayed)


@dataclass(frozen=True)
class GroupPolicy:
    """When the store's per-sample group buffer closes a group it holds (see `RunStore.add_samples`).

    A group closes **complete** when ``size`` samples have arrived. It closes **partial** (reported
    with the samples it has) when, first of:

    - no sample of it arrived for ``timeout_s`` seconds (checked on every add to the same run and
      by the service's background sweep of quiet runs);
    - a sample of the same run arrives for a step at least ``step_lag`` steps after the group's
      (2 tolerates the one step of overlap of asynchronous rollouts);
    - the run holds more than ``max_pending`` open groups (the oldest closes first).

    ``token_ttl_s``: how long a sample's request id is remembered, so that a retry adds nothing.
    """

    timeout_s: float = 300.0
    step_lag: int = 2
    max_pending: int = 10_000
    token_ttl_s: float = 3600.0


@dataclass(frozen=True)
class ClosedGroup:
    """A group the buffer closed and reported: its samples, and what the report gave it."""

    group: str
    ious: list[float | None]
    step: int | None
    complete: bool
    result: GroupResult


@dataclass(frozen=True)
class BufferResult:
    """What one ``add_samples`` call did."""

    arrival: dict[str, Any]
    """The run when the samples arrived (the τ that scores them): ``run_id``, ``scheduler``,
    ``config``, ``tau``, ``step``, ``groups``, ``reports`` (no window statistics)."""
    run: dict[str, Any]
    """The run after the call: the full public run when a group was reported, else ``arrival``."""
    closed: list[ClosedGroup]
    """Groups this call closed: the one it completed and any that the policy closed, in report order."""
    pending: int
    """Open groups of this run after the call."""
    duplicate: bool = False
    """The token was seen before: nothing was added."""


class RunNotFoundError(KeyError):
    """The run does not exist for this tenant (another tenant's run is not found either)."""


class RunExistsError(ValueError):
    """A run with this id already exists for this tenant."""


class RequestConflictError(ValueError):
    """A ``request_id`` seen before came back with other groups or IoUs (→ HTTP 409).

    A replay must return exactly the stored result; a report of other data under a used id is
    a client bug (an id reused across steps, say), and answering it with the old result would
    hand those items another request's rewards.
    """


class SchedulerConfigError(ValueError):
    """Unknown scheduler name or an invalid config value; ``field`` names the culprit (→ HTTP 422)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StoreURLError(ValueError):
    """``open_store`` got a URL it cannot open (unknown scheme or malformed)."""


class RunStore(Protocol):
    """Durable, tenant-scoped run state. Implementations: memory, sqlite, redis.

    Every method is safe to call from several threads; the sqlite store is also safe from
    several processes on one host and the redis store from several hosts.
    """

    def create_run(self, tenant: str, run_id: str, scheduler: str, config: dict[str, Any]) -> dict[str, Any]:
        """Validate ``config`` (defaults filled in) and create the run; `RunExistsError` if the id is taken."""
        ...

    def get_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        """``{"run_id", "scheduler", "config", "tau", "step", "groups", "window": {...}, "raises": [...]}``."""
        ...

    def list_runs(self, tenant: str) -> list[dict[str, Any]]:
        """This tenant's runs (public dicts), sorted by run_id."""
        ...

    def delete_run(self, tenant: str, run_id: str) -> None:
        """Delete the run and its idempotency records; `RunNotFoundError` if absent."""
        ...

    def reset_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        """Back to τ₀ with an empty window and history, same config; forgets request ids."""
        ...

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
    ) -> ReportResult:
        """Score and count ``groups`` in order, atomically; idempotent on (tenant, run_id, request_id).

        A seen ``request_id`` with the same groups and IoUs returns the stored result
        (``replayed=True``); with other ones it raises `RequestConflictError` and changes nothing.
        """
        ...

    def tau(self, tenant: str, run_id: str) -> float:
        """The τ in force now (for rewards that only read it)."""
        ...

    def get_state(self, tenant: str, run_id: str) -> dict[str, Any]:
        """A checkpoint: ``{"run_id", "scheduler", "config", "state"}``; save it with the trainer's."""
        ...

    def put_state(self, tenant: str, run_id: str, state: dict[str, Any]) -> dict[str, Any]:
        """Roll the run back (or forward) to a checkpointed ``state``; returns the public run.

        Accepts ``get_state()["state"]``. Request ids are forgotten (reports after the
        checkpoint must count again). A malformed state → `SchedulerConfigError` (field "state").
        """
        ...

    def add_samples(
        self,
        tenant: str,
        run_id: str,
        group: str,
        ious: Sequence[float | None],
        *,
        size: int,
        step: int | None = None,
        token: str | None = None,
        policy: GroupPolicy = GroupPolicy(),  # noqa: B008 (frozen dataclass)
    ) -> BufferResult:
        """Per-sample traffic: hold ``ious`` in the run's open ``group`` until ``size`` arrived.

        Atomic with the report it may trigger: the call that completes a group reports it (once,
        whichever worker or replica makes it), and closes the run's groups that ``policy`` says
        are due. Acknowledged samples are durable as the store's reports are. ``token`` (the
        request id) makes a retry add nothing (``duplicate``). `RunNotFoundError` if no run.
        """
        ...

    def close_stale_groups(
        self, policy: GroupPolicy, *, now: float | None = None
    ) -> list[tuple[str, str, ClosedGroup]]:
        """Close and report every open group idle past ``policy.timeout_s`` (the background sweep).

        Returns (tenant, run_id, group) for each closed group. ``now`` in ``time.time()`` seconds.
        """
        ...

    def pending_groups(self, tenant: str, run_id: str) -> int:
        """Open per-sample groups of the run."""
        ...

    # Tenant-scoped named documents (profiles saved over the API), so that they survive a
    # restart and are shared by every replica.
    def put_doc(self, tenant: str, kind: str, name: str, doc: dict[str, Any]) -> None: ...

    def get_doc(self, tenant: str, kind: str, name: str) -> dict[str, Any] | None: ...

    def delete_doc(self, tenant: str, kind: str, name: str) -> bool: ...

    def list_docs(self, tenant: str, kind: str) -> dict[str, dict[str, Any]]: ...

    def merge_doc(self, tenant: str, kind: str, name: str, merge: DocMerge) -> tuple[dict[str, Any], bool]:
        """Apply ``merge`` to a flat document atomically (see `schedulers.stores.doc_merge`).

        Returns the document after the merge and whether this call created it. Concurrent merges
        from any number of workers and replicas are all applied: none is lost.
        """
        ...

    def ping(self) -> bool:
        """The store is reachable (for /readyz)."""
        ...

    def close(self) -> None: ...

"""Pure functions over a run record, the one place the three stores share their logic.

A record is the JSON document a store keeps per (tenant, run_id)::

    {"run_id", "scheduler", "config", "state", "uid", "created_at", "updated_at"}

``uid`` changes on create and reset: idempotency keys include it, so request ids seen before
a reset (or before a delete and re-create) are forgotten. Each store wraps these functions in
its own atomic step (a lock, an SQLite transaction, Redis WATCH/MULTI) and so the stores
cannot disagree on what a report does.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from schedulers.base import GroupReport, ReportResult, RequestConflictError, SchedulerConfigError
from schedulers.registry import build_config, make_scheduler, validate_config
from schedulers.scheduler import Scheduler, SchedulerConfig, clean_iou

Record = dict[str, Any]


@lru_cache(maxsize=256)
def _config(name: str, config_json: str) -> SchedulerConfig:
    # Validating a pydantic config costs more than a whole report; stored configs repeat.
    return build_config(name, json.loads(config_json))


def load_scheduler(record: Record) -> Scheduler:
    cfg = _config(record["scheduler"], json.dumps(record["config"], sort_keys=True))
    return make_scheduler(record["scheduler"], cfg, record["state"])


def new_record(run_id: str, scheduler: str, config: dict[str, Any] | None, now: float) -> Record:
    """A fresh run; validates the scheduler name and config (`SchedulerConfigError`)."""
    if not isinstance(run_id, str) or not run_id:
        raise ValueError("run_id must be a non-empty string")
    cfg = validate_config(scheduler, config)
    state = make_scheduler(scheduler, cfg).state_dict()
    return {
        "run_id": run_id,
        "scheduler": scheduler,
        "config": cfg,
        "state": state,
        "uid": uuid.uuid4().hex,
        "created_at": now,
        "updated_at": now,
    }


def reset_record(record: Record, now: float) -> Record:
    """Same run and config, fresh state and uid."""
    fresh = load_scheduler(record)
    fresh.reset()
    return record | {"state": fresh.state_dict(), "uid": uuid.uuid4().hex, "updated_at": now}


def export_state(record: Record) -> dict[str, Any]:
    """A checkpoint of the schedule: ``{"run_id", "scheduler", "config", "state"}`` (JSON)."""
    return {k: record[k] for k in ("run_id", "scheduler", "config", "state")}


def import_state(record: Record, state: Any, now: float) -> Record:
    """The record with ``state`` (a ``state_dict``, e.g. from a trainer checkpoint) loaded.

    The run gets a new incarnation ``uid``: after rolling back to a checkpoint, request ids
    reported since then must count again. `SchedulerConfigError` (field ``state``) if malformed.
    """
    sched = load_scheduler(record)
    try:
        sched.load_state_dict(state)
    except ValueError as exc:
        raise SchedulerConfigError(f"state: {exc}", field="state") from None
    return record | {"state": sched.state_dict(), "uid": uuid.uuid4().hex, "updated_at": now}


def public_run(record: Record, scheduler: Scheduler | None = None) -> dict[str, Any]:
    """The dict ``RunStore.get_run`` returns."""
    return _framed(record, (scheduler or load_scheduler(record)).public())


def run_summary(record: Record) -> dict[str, Any]:
    """The part of `public_run` the per-sample buffer returns for every sample: no window
    statistics, so the scheduler is not rebuilt from its state (a third of a millisecond a sample)."""
    state = record["state"]
    return _framed(record, {k: state[k] for k in ("tau", "step", "groups", "reports")})


def _framed(record: Record, schedule: dict[str, Any]) -> dict[str, Any]:
    # a run's identity first and its timestamps last, around what its schedule says
    return (
        {"run_id": record["run_id"], "scheduler": record["scheduler"], "config": record["config"]}
        | schedule
        | {"created_at": record["created_at"], "updated_at": record["updated_at"]}
    )


def check_report(groups: Sequence[GroupReport], step: int | None, request_id: str | None) -> None:
    """Reject malformed arguments before any state is touched."""
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError("step must be a non-negative integer")
    if request_id is not None and (not isinstance(request_id, str) or not request_id):
        raise ValueError("request_id must be a non-empty string")
    for g in groups:
        if not isinstance(g, GroupReport):
            raise TypeError("groups must be GroupReport objects")


def apply_report(
    record: Record, groups: Sequence[GroupReport], step: int | None, now: float
) -> tuple[Record, ReportResult]:
    """Score ``groups`` against the record's schedule: the new record and the result to return."""
    sched = load_scheduler(record)
    results = sched.report(groups, step)
    new = record | {"state": sched.state_dict(), "updated_at": now}
    return new, ReportResult(groups=results, run=public_run(new, sched))


def request_key(record: Record, request_id: str) -> str:
    """Idempotency key within one tenant: run incarnation + request id."""
    return f"{record['uid']}:{request_id}"


def report_digest(groups: Sequence[GroupReport]) -> str:
    """A digest of what a report carries (group names and IoUs as the scheduler reads them).

    Stored with the request id, so that a replay can tell a retry from a reuse of the id.

    >>> report_digest([GroupReport("g", [0.5, None])]) == report_digest([GroupReport("g", [0.5, float("nan")])])
    True
    >>> report_digest([GroupReport("g", [0.5])]) == report_digest([GroupReport("h", [0.5])])
    False
    """
    canonical = [[str(g.group), [clean_iou(x) for x in g.ious]] for g in groups]
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()


def replay(stored: dict[str, Any], digest: str, request_id: str) -> ReportResult:
    """The stored result of a seen request id; `RequestConflictError` if it carried other data.

    ``stored`` is what the store kept: ``ReportResult.to_dict()`` plus ``"digest"`` (records
    written before digests were kept have none and replay as they are).
    """
    seen = stored.get("digest")
    if seen is not None and seen != digest:
        raise RequestConflictError(
            f"request_id {request_id!r} was already used for a report of other groups or IoUs; "
            "use a new request_id for new items (a retry must resend the same items)"
        )
    return ReportResult.from_dict(stored, replayed=True)

"""The per-sample group buffer's rules, shared by the stores (Redis mirrors them in Lua).

Per-sample trainers (OpenRLHF ≥ 0.9.1, slime, NeMo Gym) send one completion per request; the
schedulers need whole GRPO groups. Each store keeps a run's open groups next to the run, so
that any worker or replica can complete a group, and reports a group in the same atomic step
that closes it: each group is reported exactly once. `schedulers.base.GroupPolicy` says when
an incomplete group closes.
"""

from __future__ import annotations

from collections.abc import Sequence

from schedulers.base import ClosedGroup, GroupPolicy, GroupReport, SchedulerConfigError
from schedulers.scheduler import clean_iou
from schedulers.stores.records import Record, apply_report

Closing = tuple[str, list[float | None], int | None, bool]
"""(group, ious, step, complete) of a group being closed."""


def check_samples(
    group: str, ious: Sequence[float | None], size: int, step: int | None, token: str | None
) -> list[float | None]:
    """Reject malformed arguments before any state is touched; the IoUs as the schedulers read them."""
    if not isinstance(group, str):
        raise TypeError("group must be a string")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise SchedulerConfigError("group_size must be a positive integer", field="group_size")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError("step must be a non-negative integer")
    if token is not None and (not isinstance(token, str) or not token):
        raise ValueError("token must be a non-empty string")
    if not isinstance(ious, Sequence) or not ious:
        raise ValueError("ious must be a non-empty sequence")
    # NaN or out-of-range values are unscorable items (None) to the schedulers; stored as such.
    return [clean_iou(v) for v in ious]


def merge_step(old: int | None, new: int | None) -> int | None:
    """A group's step: the latest step any of its samples named."""
    if new is None:
        return old
    return new if old is None else max(old, new)


def is_due(group_step: int | None, last_at: float, *, now: float, step: int | None, policy: GroupPolicy) -> bool:
    """An open group the policy closes: idle past the timeout, or ``step_lag`` steps behind ``step``.

    >>> p = GroupPolicy(timeout_s=60, step_lag=2)
    >>> is_due(5, 100.0, now=150.0, step=6, policy=p), is_due(5, 100.0, now=150.0, step=7, policy=p)
    (False, True)
    >>> is_due(None, 100.0, now=161.0, step=None, policy=p)
    True
    """
    if last_at <= now - policy.timeout_s:
        return True
    return step is not None and group_step is not None and step - group_step >= policy.step_lag


def report_closing(record: Record, closing: Sequence[Closing], now: float) -> tuple[Record, list[ClosedGroup]]:
    """Report the closing groups to the run, in order, each at its own step."""
    closed: list[ClosedGroup] = []
    for group, ious, step, complete in closing:
        record, result = apply_report(record, [GroupReport(group=group, ious=ious)], step, now)
        closed.append(ClosedGroup(group, list(ious), step, complete, result.groups[0]))
    return record, closed

"""Prometheus gauges of run insight, per run, in the style of `app.metrics` (``medreward_run_tau``).

Labels are the tenant and the run id, as for τ: bounded by the runs tenants create, and a
deleted run's series are removed. Several workers: each reports the rate it last computed from
the shared store, and the newest wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import Gauge

DEAD_RATE = Gauge(
    "medreward_run_dead_group_rate",
    "Share of the newest step's GRPO groups whose totals are all equal (no learning signal), per run.",
    ["tenant", "run_id"],
    multiprocess_mode="mostrecent",
)
PHANTOM_RATE = Gauge(
    "medreward_run_phantom_group_rate",
    "Share of the newest step's GRPO groups whose outcome rewards are all equal but whose totals differ "
    "through shaping terms only, per run.",
    ["tenant", "run_id"],
    multiprocess_mode="mostrecent",
)
_GAUGES = (DEAD_RATE, PHANTOM_RATE)


def observe(tenant: str, run_id: str, step: Mapping[str, Any]) -> None:
    """Set the gauges from one step's summary (a step that counted no group yet changes nothing)."""
    if step.get("dead_group_rate") is None:
        return
    DEAD_RATE.labels(tenant=tenant, run_id=run_id).set(float(step["dead_group_rate"]))
    PHANTOM_RATE.labels(tenant=tenant, run_id=run_id).set(float(step["phantom_group_rate"]))


def forget(tenant: str, run_id: str) -> None:
    """Remove a deleted run's series."""
    for gauge in _GAUGES:
        try:
            gauge.remove(tenant, run_id)
        except KeyError:
            pass

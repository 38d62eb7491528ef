"""Prometheus metrics: per-route latency, items scored and abstentions per reward, errors, τ per run.

Route labels are route templates (``/v1/runs/{run_id}``), never raw paths, so that the label
set stays bounded whatever clients send.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

from scorers import Score
from scorers.types import none_abstained

# Per-sample scoring is milliseconds; batches of hundreds and embedding loads take seconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("medreward_http_requests_total", "HTTP requests served.", ["route", "method", "status"])
LATENCY = Histogram(
    "medreward_http_request_duration_seconds", "HTTP request latency.", ["route", "method"], buckets=_BUCKETS
)
ITEMS = Counter("medreward_items_scored_total", "Items scored, per reward.", ["reward"])
ABSTENTIONS = Counter(
    "medreward_abstentions_total", "Items a reward abstained on (reward null), per status.", ["reward", "status"]
)
REWARD_LATENCY = Histogram(
    "medreward_reward_duration_seconds", "Time to score one batch with one reward.", ["reward"], buckets=_BUCKETS
)
ERRORS = Counter("medreward_errors_total", "Error responses, per error code.", ["code"])
# Several workers: each reports the τ it last saw; the newest wins (all read one store).
RUN_TAU = Gauge(
    "medreward_run_tau", "IoU threshold τ in force, per run.", ["tenant", "run_id"], multiprocess_mode="mostrecent"
)
GROUPS = Counter("medreward_run_groups_total", "GRPO groups reported to run schedulers.", ["tenant"])


class Children:
    """``metric.labels(*values)``, remembered: for the series every request touches.

    ``labels`` takes ~2 µs (it checks and joins the values under the metric's lock); per-sample
    requests touched four such series, ~8 µs of a ~60 µs request in the service's own code.
    The children are the metric's own (``labels`` creates each once), so only metrics whose
    series are never removed may go through this, and only with bounded label values (route
    templates, methods, statuses, reward names).
    """

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


requests_child = Children(REQUESTS)
latency_child = Children(LATENCY)
_items_child = Children(ITEMS)
_reward_latency_child = Children(REWARD_LATENCY)


def observe_scores(reward: str, scores: Sequence[Score], seconds: float, complete: bool | None = None) -> None:
    """Count one scored batch (``complete``: whether every score has a reward, if the caller knows)."""
    _items_child(reward).inc(len(scores))
    _reward_latency_child(reward).observe(seconds)
    if complete is None:
        complete = none_abstained(scores)
    if complete:  # the usual batch: nothing to count per item
        return
    for s in scores:
        if s.reward is None:
            ABSTENTIONS.labels(reward=reward, status=s.status).inc()


EVERY_TENANT = "*"
"""A ``render`` viewer that sees every tenant's series (the metrics key, or an open service)."""


class _TenantView:
    """A registry's metrics with the series labelled by another tenant left out.

    Run ids are chosen by tenants and may say what they work on; a caller sees the series of its
    own tenant only (``tenant=None``: none at all), the rest of the metrics whole.
    """

    def __init__(self, registry: Any, tenant: str | None) -> None:
        self.registry = registry
        self.tenant = tenant

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            kept = [s for s in family.samples if s.labels.get("tenant", self.tenant) == self.tenant]
            if len(kept) != len(family.samples):
                family = copy.copy(family)
                family.samples = kept
            yield family


def render(viewer: str | None = EVERY_TENANT) -> tuple[bytes, str]:
    """The exposition text and its content type (summed over workers in multiprocess mode).

    ``viewer``: `EVERY_TENANT`, one tenant's name (its own tenant-labelled series only) or None
    (no tenant-labelled series).
    """
    registry: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    if viewer != EVERY_TENANT:
        registry = _TenantView(registry, viewer)
    return generate_latest(registry), CONTENT_TYPE_LATEST

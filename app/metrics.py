"""Prometheus metrics: per-route latency, items scored and abstentions per reward, errors, τ per run.

Route labels are route templates (``/v1/runs/{run_id}``), never raw paths, so that the label
set stays bounded whatever clients send.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from scorers import Score

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


def observe_scores(reward: str, scores: Sequence[Score], seconds: float) -> None:
    """Count one scored batch."""
    ITEMS.labels(reward=reward).inc(len(scores))
    REWARD_LATENCY.labels(reward=reward).observe(seconds)
    for s in scores:
        if s.reward is None:
            ABSTENTIONS.labels(reward=reward, status=s.status).inc()


def render() -> tuple[bytes, str]:
    """The exposition text and its content type (summed over workers in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST

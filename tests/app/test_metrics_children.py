"""`metrics.Children` hands out the metric's own series: counts land where ``labels`` would put them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from app.metrics import Children


def test_the_same_series_as_labels() -> None:
    registry = CollectorRegistry()
    counter = Counter("c_total", "test", ["route", "status"], registry=registry)
    child = Children(counter)
    child("/a", "200").inc()
    child("/a", "200").inc(2)
    child("/b", "404").inc()
    assert child("/a", "200") is counter.labels("/a", "200")
    assert registry.get_sample_value("c_total", {"route": "/a", "status": "200"}) == 3
    assert registry.get_sample_value("c_total", {"route": "/b", "status": "404"}) == 1

"""`zalo_oa.metrics.Children`: a labelled metric's kept children count exactly what
``labels()`` would, and no more than ``size`` are kept."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from zalo_oa.metrics import Children


def test_kept_children_count_as_labels_does_and_stay_bounded() -> None:
    registry = CollectorRegistry()
    counter = Counter("t_requests_total", "t", ["route", "status"], registry=registry)
    by = Children(counter, size=3)
    for status in ("200", "200", "404", "200", "500", "201", "200"):
        by("/graphql", status).inc()
    assert (
        registry.get_sample_value("t_requests_total", {"route": "/graphql", "status": "200"}) == 4
    )
    for status, n in (("404", 1), ("500", 1), ("201", 1)):
        labels = {"route": "/graphql", "status": status}
        assert registry.get_sample_value("t_requests_total", labels) == n
    assert len(by._children) <= 3
    assert by("/graphql", "200") is counter.labels("/graphql", "200")

"""Prometheus metrics at ``/metrics``: traffic, GraphQL operations, queues, Zalo calls, tokens.

Request and operation counters are updated as they happen; queue depths, ages and token
expiry are read from the database when ``/metrics`` is scraped, so they are right for the
whole deployment, not one process. With several workers, set ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode) so counters add up across them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from strawberry.extensions import SchemaExtension

import models
from resolvers.oa_token import parse_moment
from zalo.client import ZaloClient
from zalo_oa.db import Database

REQUESTS = Counter("zalo_oa_http_requests_total", "HTTP requests.", ["route", "method", "status"])
LATENCY = Histogram(
    "zalo_oa_http_request_duration_seconds",
    "HTTP request latency.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OPERATIONS = Counter(
    "zalo_oa_graphql_operations_total", "GraphQL operations.", ["operation", "type", "outcome"]
)
QUEUE = Gauge(
    "zalo_oa_queue_depth",
    "Work waiting, by queue and status.",
    ["queue", "status"],
    multiprocess_mode="liveall",
)
QUEUE_AGE = Gauge(
    "zalo_oa_queue_oldest_seconds",
    "Age of the oldest waiting item.",
    ["queue"],
    multiprocess_mode="liveall",
)
TOKEN_EXPIRY = Gauge(
    "zalo_oa_access_token_expires_in_seconds",
    "Seconds until each OA's access token expires.",
    ["oa"],
    multiprocess_mode="liveall",
)


class Children:
    """A labelled metric's children by their label values, kept for the next observation.

    ``labels()`` converts and checks the values and takes the metric's lock each time: for
    a request's count and latency that was 6.5 µs, 3.4 µs with the children kept
    (docs/performance.md, fourteenth round). At most ``size`` are kept, since some values
    come from clients (an operation's name, a method)."""

    __slots__ = ("_children", "metric", "size")

    def __init__(self, metric: Any, size: int = 1024) -> None:
        self.metric = metric
        self.size = size
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            if len(self._children) >= self.size:
                self._children.clear()
            child = self._children[values] = self.metric.labels(*values)
        return child


REQUESTS_BY = Children(REQUESTS)
LATENCY_BY = Children(LATENCY)
OPERATIONS_BY = Children(OPERATIONS)


def route_label(scope: Mapping[str, Any]) -> str:
    """The route template (bounded cardinality), not the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    raw = str(scope.get("path", ""))
    if isinstance(path, str) and path:
        return str(scope.get("root_path", "")) + path if path.startswith("/") else raw
    return raw if raw in ("/graphql", "/healthz", "/readyz", "/metrics") else "unmatched"


class GraphQLMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        name = context.operation_name
        try:
            kind = context.operation_type.value
        except Exception:  # an unparsable document has no operation type
            kind = "unknown"
        result = context.result
        count_operation(name, kind, not getattr(result, "errors", None))


def count_operation(name: str | None, kind: str, ok: bool) -> None:
    """One GraphQL operation in ``zalo_oa_graphql_operations`` (also for known queries)."""
    OPERATIONS_BY((name or "anonymous")[:100], kind, "ok" if ok else "error").inc()


class ZaloCalls(Collector):
    """Zalo calls by endpoint and errors by endpoint and error number, from the client."""

    def __init__(self, client: ZaloClient) -> None:
        self.client = client

    def collect(self) -> Iterator[CounterMetricFamily]:
        calls = CounterMetricFamily("zalo_oa_zalo_calls", "Calls to Zalo.", labels=["endpoint"])
        for endpoint, n in self.client.calls.items():
            calls.add_metric([endpoint], n)
        yield calls
        errors = CounterMetricFamily(
            "zalo_oa_zalo_errors", "Zalo errors.", labels=["endpoint", "error"]
        )
        for (endpoint, code), n in self.client.errors.items():
            errors.add_metric([endpoint, str(code)], n)
        yield errors


def register_zalo(client: ZaloClient) -> None:
    collector = ZaloCalls(client)
    try:
        REGISTRY.register(collector)
    except ValueError:  # a second app in one process (tests): keep the first
        pass


async def refresh_gauges(database: Database) -> None:
    now = datetime.now(UTC)
    messages = models.Message.__table__  # type: ignore[attr-defined]
    deliveries = models.Delivery.__table__  # type: ignore[attr-defined]
    events = models.Event.__table__  # type: ignore[attr-defined]
    accounts = models.OfficialAccount.__table__  # type: ignore[attr-defined]
    async with database.sessions() as session:
        for queue, table, statuses in (
            ("messages", messages, ("queued", "sending")),
            ("deliveries", deliveries, ("PENDING", "FAILED")),
        ):
            rows = (
                await session.execute(
                    sa.select(table.c.status, sa.func.count(), sa.func.min(table.c.created))
                    .where(table.c.status.in_(statuses))
                    .group_by(table.c.status)
                )
            ).all()
            oldest = None
            for status in statuses:
                QUEUE.labels(queue, status).set(0)
            for status, n, first in rows:
                QUEUE.labels(queue, status).set(n)
                if first is not None:
                    oldest = first if oldest is None else min(oldest, first)
            QUEUE_AGE.labels(queue).set((now - oldest).total_seconds() if oldest else 0)
        pending, first = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.min(events.c.created)).where(
                    events.c.source == "zalo", events.c.applied.is_(None)
                )
            )
        ).one()
        QUEUE.labels("inbound_events", "pending").set(pending)
        QUEUE_AGE.labels("inbound_events").set((now - first).total_seconds() if first else 0)
        for code, expires in (
            await session.execute(
                sa.select(accounts.c.code, accounts.c.access_token_expired).where(
                    accounts.c.status == 1
                )
            )
        ).all():
            moment = parse_moment(expires)
            if moment is not None:
                TOKEN_EXPIRY.labels(code).set((moment - now).total_seconds())


def exposition() -> tuple[bytes, str]:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

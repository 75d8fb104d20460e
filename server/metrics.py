"""The server's Prometheus metrics and the pure ASGI middleware that counts, times and logs
each request under its id.

With PROMETHEUS_MULTIPROC_DIR set (several server processes), every process writes its
samples there and a scrape sums them; without it they live in this process. The queue's
figures come from the database at scrape time, kept for QUEUE_CACHE_SECONDS so that a storm of
scrapes costs the database one query."""

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.db import fetch_all, queries
from shared import logs

log = logging.getLogger("traybell.http")

QUEUE_CACHE_SECONDS = 5.0
#: The route label of a request that matched no route (never its raw path).
UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The template of the route a request matched (`/invite/{token}`), never its raw path:
    paths may carry capability tokens (invite and unsubscribe links)."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED


_MAX_REQUEST_ID = 200

HTTP_REQUESTS = Counter(
    "traybell_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "traybell_http_request_duration_seconds",
    "Time from a request's arrival to its response's start",
    ["method", "route"],
)
NOTIFICATIONS_STORED = Counter(
    "traybell_notifications_stored_total", "Notifications stored (one per recipient)"
)
EVENT_STREAMS = Gauge(
    "traybell_event_streams", "Open real-time event streams", multiprocess_mode="livesum"
)
EVENT_STREAM_STATEMENTS = Counter(
    "traybell_event_stream_statements_total",
    "Statements run to feed the event streams (set-based: one wake-up of many streams is few)",
)


class QueueCollector(Collector):
    """traybell_deliveries and traybell_delivery_oldest_pending_seconds from figures read
    before the scrape (collect() cannot wait for the database)."""

    def __init__(self, rows: Iterable[Mapping[str, Any]]):
        self.rows = list(rows)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        deliveries = GaugeMetricFamily(
            "traybell_deliveries",
            "Delivery jobs by channel and status",
            labels=["channel", "status"],
        )
        oldest = GaugeMetricFamily(
            "traybell_delivery_oldest_pending_seconds",
            "Age of the oldest pending job that is due",
            labels=["channel"],
        )
        for row in self.rows:
            deliveries.add_metric([row["channel"], row["status"]], row["jobs"])
            if row["status"] == "pending":
                oldest.add_metric([row["channel"]], float(row["oldest_due_seconds"] or 0))
        yield deliveries
        yield oldest


class QueueFigures:
    """The queue's figures, read at most once per QUEUE_CACHE_SECONDS."""

    def __init__(self) -> None:
        self._rows: list[Mapping[str, Any]] = []
        self._read_at = -QUEUE_CACHE_SECONDS
        self._lock = asyncio.Lock()

    async def rows(self, pool: Any) -> list[Mapping[str, Any]]:
        async with self._lock:  # concurrent scrapes wait for one query
            if time.monotonic() - self._read_at >= QUEUE_CACHE_SECONDS:
                self._rows = await fetch_all(queries.queue_figures, pool)
                self._read_at = time.monotonic()
            return self._rows


def exposition(queue: Collector) -> tuple[bytes, str]:
    """Every metric of this server (of all its processes) and the queue's, in the Prometheus
    text format."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Collected(REGISTRY))
    registry.register(queue)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Collected(Collector):
    """Another registry's metrics; a scrape's own registry must not add to the process-wide one."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self) -> Iterable[Any]:
        return self.registry.collect()


class RequestObservation:
    """Gives each request an id (the caller's X-Request-ID, else a new one) that its response
    and log lines carry, and counts and times it under its route template. Pure ASGI: no
    per-request task or body wrapping, unlike BaseHTTPMiddleware.

    The line per request is logged at `request_log_level`: INFO where a log collector reads
    JSON lines, DEBUG (shown with -v) for people, whose terminal it would flood."""

    def __init__(self, app: ASGIApp, request_log_level: int = logging.INFO):
        self.app = app
        self.request_log_level = request_log_level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1").strip()
        rid = given[:_MAX_REQUEST_ID] if given.isprintable() and given else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        status = 500
        answered: float | None = None

        async def observed_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = time.perf_counter()
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            ended = time.perf_counter()
            seconds = ended - started  # the whole request: for a stream, its life
            route = route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            # To the answer's start, as the help says: a stream's hours would swamp the buckets.
            HTTP_DURATION.labels(method, route).observe((answered or ended) - started)
            log.log(
                self.request_log_level,
                "%s %s %d %.1f ms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            logs.request_id.reset(token)

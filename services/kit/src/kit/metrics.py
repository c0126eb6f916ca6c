"""Prometheus metrics every service exposes on `/metrics`. Names follow Prometheus'
conventions: base units in the name (`_seconds`), `_total` for counters, `_info` for
constant labels (docs/operations.md, "Metrics")."""

from __future__ import annotations

import platform

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "kohtaamo_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "kohtaamo_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
)
CONSUMED = Counter(
    "kohtaamo_messages_consumed_total", "Messages handled", ["service", "queue", "outcome"]
)
PUBLISHED = Counter(
    "kohtaamo_messages_published_total", "Messages published", ["service", "exchange"]
)
RETRIED = Counter(
    "kohtaamo_messages_retried_total", "Messages sent to a retry queue", ["service", "queue"]
)
DEAD_LETTERED = Counter(
    "kohtaamo_messages_dead_lettered_total",
    "Messages dead-lettered",
    ["service", "queue", "reason"],
)
OUTBOX_PENDING = Gauge("kohtaamo_outbox_pending", "Outbox entries not yet published", ["service"])
OUTBOX_LAG = Gauge(
    "kohtaamo_outbox_lag_seconds", "Age of the oldest unpublished outbox entry", ["service"]
)
OUTBOX_PARKED = Gauge(
    "kohtaamo_outbox_parked", "Outbox entries parked as unroutable (nobody subscribes)", ["service"]
)
CONSUMER_LAG = Histogram(
    "kohtaamo_consumer_lag_seconds",
    "Time from an event's making (its envelope time) to its delivery to the consumer: the"
    " outbox wait and the queue wait (clamped at 0 across sites' clocks)",
    ["service", "queue"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
CONSUMER_STALLED = Gauge(
    "kohtaamo_consumer_stalled",
    "1 while a consumer holds unacked messages without progress (see consumer_stall_s)",
    ["service", "queue"],
)
CONSUMER_RESTARTS = Counter(
    "kohtaamo_consumer_restarts_total",
    "Times the kit restarted a stalled consumer's work (its held messages requeued)",
    ["service", "queue"],
)
BUILD_INFO = Gauge(
    "kohtaamo_build_info",
    "1, labelled with what runs: the service, its version, the image's source revision",
    ["service", "version", "revision", "python"],
)


def record_build(service: str, version: str, revision: str) -> None:
    BUILD_INFO.labels(service, version, revision or "unknown", platform.python_version()).set(1)

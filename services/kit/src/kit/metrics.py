"""Prometheus metrics every service exposes on `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "kohtaamo_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "kohtaamo_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
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

"""RabbitMQ names: the only place where exchange, routing-key and queue strings are made."""

from __future__ import annotations

from contracts.envelope import TYPE_PREFIX

SERVICES = ("identity", "events", "bookings", "notifications", "analytics", "gateway")

# Dead-letter exchange shared by every queue; the routing key is the source queue's name,
# so each queue's dead letters land in its own `<queue>.dlq`.
DEAD_LETTER_EXCHANGE = "kohtaamo.dlx"


def exchange(service: str) -> str:
    """The topic exchange a service publishes its events to."""
    return f"kohtaamo.{service}.events"


def routing_key(event_type: str) -> str:
    """The routing key of an event type: the type without the `kohtaamo.` prefix."""
    return event_type.removeprefix(TYPE_PREFIX)


def producer_of(event_type: str) -> str:
    return routing_key(event_type).split(".", 1)[0]


def queue(consumer: str, purpose: str) -> str:
    """One durable quorum queue per consumer purpose, e.g. `kohtaamo.notifications.contacts`."""
    return f"kohtaamo.{consumer}.{purpose}"


def dead_letter_queue(queue_name: str) -> str:
    return f"{queue_name}.dlq"


def retry_queue(queue_name: str, delay_ms: int) -> str:
    """A delay queue per backoff step; its TTL is part of the name because queue
    arguments cannot change once declared."""
    return f"{queue_name}.retry.{delay_ms}ms"


# Header names the kit puts on retried and dead-lettered messages.
HEADER_RETRIES = "x-kohtaamo-retries"
HEADER_REASON = "x-kohtaamo-reason"
HEADER_ERROR = "x-kohtaamo-error"
HEADER_QUEUE = "x-kohtaamo-queue"
HEADER_DEAD_AT = "x-kohtaamo-dead-lettered-at"

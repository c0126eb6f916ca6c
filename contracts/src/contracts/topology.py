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


def retry_exchange(service: str) -> str:
    """A consuming service's own direct exchange for its retries and replays: routing key
    a retry queue's name, or a consumer queue's (straight back). Its own, so no service
    needs to write to the default exchange (which reaches every queue)."""
    return f"kohtaamo.{service}.retry"


def consumer_of(queue_name: str) -> str:
    """The service whose queue this is (`kohtaamo.<service>.<purpose>...`)."""
    return queue_name.split(".")[1]


def retry_queue(queue_name: str, delay_ms: int) -> str:
    """A delay queue per backoff step; its TTL is part of the name because queue
    arguments cannot change once declared. (`.backoff.`: the earlier `.retry.<ms>ms`
    queues dead-lettered through the default exchange, which no service may write to
    now; they drain by themselves and are deleted by the operator.)"""
    return f"{queue_name}.backoff.{delay_ms}ms"


# Header names the kit puts on retried and dead-lettered messages.
HEADER_RETRIES = "x-kohtaamo-retries"
HEADER_REASON = "x-kohtaamo-reason"
HEADER_ERROR = "x-kohtaamo-error"
HEADER_QUEUE = "x-kohtaamo-queue"
HEADER_DEAD_AT = "x-kohtaamo-dead-lettered-at"

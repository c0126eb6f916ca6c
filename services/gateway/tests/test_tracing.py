"""One trace from a click to the last consumer (kit.tracing), on the gateway suite's
platform: every service a process exporting OTLP/HTTP to a real receiver of this test
process (kit.trace_receiver, decoding the protobuf payloads). A registration through the
gateway must give one trace: the gateway's request and its upstream call, the events
service's request, the relay's publish of the staged event and the consumers of it in
notifications and analytics, with the waiting times as attributes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from contracts import events as ev
from kit.testing import eventually
from kit.trace_receiver import ReceivedSpan, TraceReceiver

from .test_journeys import bearer, sign_up

pytestmark = pytest.mark.timeout(900)  # the platform may be started by this test


def one(spans: list[ReceivedSpan], **match: Any) -> ReceivedSpan:
    found = [s for s in spans if all(_get(s, k) == v for k, v in match.items())]
    shown = [(s.service, s.name, s.kind, s.span_id, s.parent_span_id) for s in spans]
    assert len(found) == 1, (match, shown)
    return found[0]


def _get(span: ReceivedSpan, key: str) -> Any:
    if key.startswith("attr_"):
        return span.attributes.get(key[5:].replace("__", "."))
    return getattr(span, key)


async def test_registration_is_one_trace(platform: Any, trace_receiver: TraceReceiver) -> None:
    correlation = f"trace-{uuid.uuid4().hex[:12]}"
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=30) as client:
        user = await sign_up(client)
        registered = await client.post(
            "/api/v1/events/evt-hki-cv/registrations",
            json={},
            # A caller's own trace context is not believed at the edge.
            headers={
                **bearer(user),
                "X-Correlation-ID": correlation,
                "traceparent": "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
            },
        )
    assert registered.status_code == 201, registered.text
    registration = registered.json()["id"]

    def request_span() -> ReceivedSpan | None:
        for span in trace_receiver.received():
            if (
                span.service == "kohtaamo-gateway"
                and span.kind == "server"
                and span.attributes.get("kohtaamo.correlation_id") == correlation
            ):
                return span
        return None

    async def request_seen() -> bool:
        return request_span() is not None

    await eventually(request_seen, timeout=60)
    root = request_span()
    assert root is not None
    assert root.trace_id != "0123456789abcdef0123456789abcdef"
    assert root.parent_span_id == ""
    confirmed = ev.REGISTRATION_CONFIRMED

    def consumed_by(service: str) -> list[ReceivedSpan]:
        return [
            s
            for s in trace_receiver.trace(root.trace_id)
            if s.service == f"kohtaamo-{service}"
            and s.kind == "consumer"
            and s.attributes.get("cloudevents.event_type") == confirmed
            # A retried message has a span per delivery: the one that applied it.
            and s.attributes.get("kohtaamo.outcome") == "applied"
        ]

    async def both_consumed() -> bool:
        return bool(consumed_by("notifications")) and bool(consumed_by("analytics"))

    await eventually(both_consumed, timeout=90)
    spans = trace_receiver.trace(root.trace_id)
    # The gateway's call to events, and the events service's request under it.
    call = one(
        spans,
        service="kohtaamo-gateway",
        kind="client",
        parent_span_id=root.span_id,
        attr_kohtaamo__upstream="events",
    )
    served = one(spans, service="kohtaamo-events", kind="server", parent_span_id=call.span_id)
    assert served.attributes["kohtaamo.correlation_id"] == correlation
    # Store commands of the request are in its trace.
    assert any(
        s.service == "kohtaamo-events" and s.attributes.get("db.system") == "mongodb" for s in spans
    )
    # The relay published the staged event in a child of the request's span, after it
    # waited in the outbox.
    key = confirmed.removeprefix("kohtaamo.")
    relays = [
        s
        for s in spans
        if s.service == "kohtaamo-events"
        and s.kind == "producer"
        and s.attributes.get("messaging.rabbitmq.destination.routing_key") == key
    ]
    assert relays, [(s.service, s.name, s.kind) for s in spans]
    # A publish that failed is tried again in a span of its own: the last one went out.
    relay = max(relays, key=lambda s: s.start_ns)
    assert relay.parent_span_id == served.span_id
    assert relay.attributes["messaging.destination.name"] == "kohtaamo.events.events"
    assert relay.attributes["kohtaamo.outbox.wait_s"] >= 0
    event_id = relay.attributes["messaging.message.id"]
    # Each consumer: a child of the same span (the envelope's signed traceparent), linked
    # to the relay's publish, with its queue wait; applied.
    for service in ("notifications", "analytics"):
        consumer = one(consumed_by(service), attr_messaging__message__id=event_id)
        assert consumer.parent_span_id == served.span_id, service
        assert (relay.trace_id, relay.span_id) in consumer.links, service
        assert consumer.attributes["kohtaamo.queue.wait_s"] >= 0, service
        assert consumer.attributes["kohtaamo.outcome"] == "applied", service
        assert consumer.attributes["kohtaamo.correlation_id"] == correlation, service
        assert consumer.start_ns >= relay.start_ns, service
    # Logs and traces joined: the events service's lines of the request carry its ids.
    lines = [line for line in platform.log("events").splitlines() if correlation in line]
    assert any(root.trace_id in line and served.span_id in line for line in lines), lines[-5:]
    assert registration

"""A notice continues the trace of the message that caused it (tracing on): the queued
notice keeps that message's span context, the sender's span for delivering it is a child
of the consumer's span, and the notice.sent / notice.failed event carries the sender's
span on to its consumers. Real broker, store and SMTP server; spans kept in memory."""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from contracts import events as ec
from contracts import notifications as nc
from kit.testing import envelope, eventually, publish_as_producer

from .conftest import add_contact, mails_for, published
from .test_registration_notices import registration

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CAUSE = "00f067aa0ba902b7"


async def _email_event(svc: Any, type_: str, user: str) -> dict[str, Any]:
    """The notice event of `user`'s email notice (in-app ones are announced at once)."""
    found: list[dict[str, Any]] = []

    async def seen() -> bool:
        found[:] = [
            e
            for e in await published(svc, type_, timeout=20)
            if e["data"]["channel"] == "email" and e["data"]["user_id"] == user
        ]
        return bool(found)

    await eventually(seen, timeout=20)
    [event] = found
    return event


def _notices(outcome: str) -> float:
    """kohtaamo_notices_<outcome>_total for email."""
    name = f"kohtaamo_notices_{outcome}_total"
    return REGISTRY.get_sample_value(name, {"channel": "email"}) or 0.0


def _hex(value: int, width: int) -> str:
    return f"{value:0{width}x}"


async def test_sent_and_failed_notices_continue_the_cause_trace(
    started: Any, mailbox: Any, recorded_spans: InMemorySpanExporter
) -> None:
    svc = await started()
    box, _ = mailbox
    sent_before, failed_before = _notices("sent"), _notices("failed")
    ok, refused = (f"u-{uuid.uuid4().hex[:6]}" for _ in range(2))
    address = await add_contact(svc, ok)
    box.refuse.add(await add_contact(svc, refused))  # a permanent failure: failed at once
    causes = {}
    for user in (ok, refused):
        cause = envelope(
            ec.REGISTRATION_CONFIRMED,
            registration(user, f"e-{uuid.uuid4().hex[:6]}"),
            traceparent=f"00-{TRACE}-{CAUSE}-01",
        )
        causes[user] = cause.id
        await publish_as_producer(svc.settings, cause)
    await mails_for(box, address)
    failed = await _email_event(svc, nc.NOTICE_FAILED, refused)
    sent = await _email_event(svc, nc.NOTICE_SENT, ok)

    # The notices' metrics by channel: the one sent, the one failed for good (counted
    # once their transaction committed, which may be after its events went out).
    async def counted() -> bool:
        return _notices("sent") >= sent_before + 1 and _notices("failed") >= failed_before + 1

    await eventually(counted, timeout=30)

    spans = recorded_spans.get_finished_spans()

    def consumed(cause_id: str) -> list[Any]:
        # One span per delivery: a delivery retried (a write conflict with a neighbour
        # in its batch, say) has a span of its own, each a child of the cause.
        return [
            s
            for s in spans
            if s.kind.name == "CONSUMER"
            and (s.attributes or {}).get("messaging.message.id") == cause_id
        ]

    for user, event, outcome in ((ok, sent, "sent"), (refused, failed, "failed")):
        deliveries = consumed(causes[user])
        assert deliveries, user
        for delivery in deliveries:
            assert delivery.parent is not None and _hex(delivery.parent.span_id, 16) == CAUSE
        # The notice stored with the span context of the delivery that committed it.
        notice = await svc.store.db.notices.find_one({"_id": event["data"]["notice_id"]})
        assert notice is not None
        trace_id, span_id = notice["traceparent"].split("-")[1:3]
        assert trace_id == TRACE
        [consumer] = [d for d in deliveries if d.context and _hex(d.context.span_id, 16) == span_id]
        assert consumer.context is not None
        # The sender's span: a child of the consumer's, in the same trace, with the outcome.
        [delivered] = [
            s
            for s in spans
            if s.name == "send email" and s.parent and s.parent.span_id == consumer.context.span_id
        ]
        assert delivered.context is not None and _hex(delivered.context.trace_id, 32) == TRACE
        attributes = delivered.attributes or {}
        assert attributes["kohtaamo.outcome"] == outcome, user
        assert attributes["kohtaamo.notice.wait_s"] >= 0
        # The event continues the sender's span (signed with it, as every event).
        assert event["traceparent"].split("-")[1:3] == [
            TRACE,
            _hex(delivered.context.span_id, 16),
        ], user
    failed_send = next(
        s for s in spans if s.name == "send email" and s.status.status_code.name == "ERROR"
    )
    assert [e.name for e in failed_send.events] == ["exception"]


async def test_tracing_off_stores_and_sends_no_span_context(started: Any, mailbox: Any) -> None:
    """Tracing off here (whatever the cause carried): the notice stores no span context and
    its notice.sent carries none, as before tracing."""
    svc = await started()
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user)
    cause = envelope(
        ec.REGISTRATION_CONFIRMED,
        registration(user, f"e-{uuid.uuid4().hex[:6]}"),
        traceparent=f"00-{TRACE}-{CAUSE}-01",
    )
    await publish_as_producer(svc.settings, cause)
    await mails_for(box, address)
    sent = await _email_event(svc, nc.NOTICE_SENT, user)

    async def stored() -> bool:
        notice = await svc.store.db.notices.find_one({"_id": sent["data"]["notice_id"]})
        return notice is not None

    await eventually(stored)
    notice = await svc.store.db.notices.find_one({"_id": sent["data"]["notice_id"]})
    assert notice is not None and "traceparent" not in notice
    assert "traceparent" not in sent

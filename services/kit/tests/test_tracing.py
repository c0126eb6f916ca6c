"""Tracing (kit.tracing) without infrastructure: off unless the OTEL_* environment asks,
and then no provider, exporter or instrumentation is made (a process of its own, as a
service starts); hostile span contexts are ignored, never a failure; the envelope's
`traceparent` is covered by the site's signature; the edge drops a caller's trace
headers; a consumer's span has the envelope's parent, the relay's link and the queue
wait. The whole path on a platform: services/gateway/tests/test_tracing.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts import CloudEvent
from kit import tracing
from kit.signatures import EventSigner, SignatureVerifier, Signer, Unauthenticated, new_key
from kit.spans import KitSpans
from kit.tracing import SpanContext

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
PROBE = """
import json, sys
from kit.app import Service
from kit import tracing
from opentelemetry import trace

def state(app):
    provider = trace.get_tracer_provider()
    active = getattr(provider, "_active_span_processor", None)
    processors = getattr(active, "_span_processors", ())
    return {
        "enabled": tracing.enabled,
        "exporter_loaded": "opentelemetry.exporter.otlp.proto.http.trace_exporter" in sys.modules,
        "sdk_loaded": "opentelemetry.sdk.trace" in sys.modules,
        "provider": type(provider).__name__,
        "exporters": [type(p.span_exporter).__name__ for p in processors],
        "outermost": type(app.build_middleware_stack()).__name__,
    }

seen = [state(Service("kittrace").create_app())]
# Configured but disabled: still nothing.
tracing.setup("kittrace", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
                               "OTEL_SDK_DISABLED": "true"})
seen.append(state(Service("kittrace").create_app()))
tracing.setup("kittrace", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
seen.append(state(Service("kittrace").create_app()))
from opentelemetry.exporter.otlp.proto.http import trace_exporter
from kit import otlp_encoding
seen[-1]["kit_encoder"] = trace_exporter.encode_spans is otlp_encoding.encode_spans
print(json.dumps(seen))
"""


def test_off_unless_configured_no_exporter_is_created() -> None:
    """A service process started without OTEL_* settings (the probe's own environment is
    cleaned of them) creates no provider, exporter or tracing middleware and never loads
    the SDK; configured, it does."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    off, disabled, on = json.loads(out.stdout.strip().splitlines()[-1])
    for nothing in (off, disabled):
        assert nothing["enabled"] is False
        assert not nothing["exporter_loaded"] and not nothing["sdk_loaded"]
        assert nothing["provider"] == "ProxyTracerProvider" and nothing["exporters"] == []
        assert nothing["outermost"] == "ServerErrorMiddleware"  # no tracing middleware
    assert on["enabled"] is True and on["provider"] == "TracerProvider"
    assert on["exporters"] == ["OTLPSpanExporter"]
    assert on["kit_encoder"] is True  # the exporter encodes with kit.otlp_encoding
    assert on["outermost"] == "TraceHeaderGate"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_configured(env: dict[str, str], expected: bool) -> None:
    assert tracing.configured(env) is expected


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ],
)
def test_what_the_kit_cannot_export_is_an_error_not_silence(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        tracing.configured(env)


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        "",
        "garbage",
        PARENT.upper(),
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        PARENT + "-extra",  # version 00 has exactly four fields
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + "x" * 300,  # too long
    ],
)
def test_a_careless_or_hostile_traceparent_is_ignored(value: Any) -> None:
    assert tracing.parse_traceparent(value) is None


def test_traceparent_parses_and_formats_back() -> None:
    context = tracing.parse_traceparent(PARENT, "vendor=1")
    assert context is not None and context.is_remote
    assert tracing.format_context(context) == (PARENT, "vendor=1")
    # A later version: its first four fields are read.
    assert tracing.parse_traceparent("01" + PARENT[2:] + "-more") is not None
    # A tracestate too long is dropped, the parent kept.
    long_state = tracing.parse_traceparent(PARENT, "a=" + "b" * 600)
    assert long_state is not None and not long_state.trace_state


def test_the_signature_covers_the_trace_context() -> None:
    key = new_key("helsinki", "1")
    verifier = SignatureVerifier(
        [EventSigner(site="helsinki", municipalities=["helsinki"], jwks={"keys": [key]})]
    )
    event = CloudEvent(
        source="/kohtaamo/helsinki/events",
        type="kohtaamo.events.registration.confirmed.v1",
        municipality="helsinki",
        traceparent=PARENT,
        tracestate="vendor=1",
    )
    sealed = Signer(key).sealed(event)
    assert sealed["traceparent"] == PARENT
    assert verifier.verify(sealed, CloudEvent.model_validate(sealed)) == "helsinki"
    for change in (
        {"traceparent": PARENT.replace("00f067aa", "11f067aa")},  # moved into another trace
        {"tracestate": "vendor=2"},
    ):
        forged = {**sealed, **change}
        with pytest.raises(Unauthenticated):
            verifier.verify(forged, CloudEvent.model_validate(forged))
    stripped = {k: v for k, v in sealed.items() if k != "traceparent"}
    with pytest.raises(Unauthenticated):
        verifier.verify(stripped, CloudEvent.model_validate(stripped))
    # Bounded in the contract: an absurd value is a malformed envelope.
    with pytest.raises(ValueError):
        CloudEvent.model_validate({**sealed, "traceparent": "x" * 300})


async def _through_gate(client: str, trusted: list[str]) -> list[tuple[bytes, bytes]]:
    seen: list[tuple[bytes, bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.extend(scope["headers"])

    gate = tracing.TraceHeaderGate(app, trusted=trusted)
    headers = [(b"traceparent", PARENT.encode()), (b"baggage", b"a=b"), (b"accept", b"*/*")]
    await gate({"type": "http", "client": (client, 1234), "headers": headers}, None, None)
    return seen


async def test_trace_headers_are_believed_from_trusted_peers_only() -> None:
    dropped = await _through_gate("203.0.113.9", ["127.0.0.1"])
    assert dropped == [(b"accept", b"*/*")]
    kept = await _through_gate("10.1.2.3", ["10.0.0.0/8"])
    assert (b"traceparent", PARENT.encode()) in kept
    assert await _through_gate("10.1.2.3", []) == [(b"accept", b"*/*")]  # the edge


@pytest.fixture
def recorded(recorded_spans: InMemorySpanExporter) -> InMemorySpanExporter:
    return recorded_spans


def test_consumer_span_parent_link_and_queue_wait(recorded: InMemorySpanExporter) -> None:
    event = CloudEvent(
        source="/kohtaamo/helsinki/events",
        type="kohtaamo.events.registration.confirmed.v1",
        municipality="helsinki",
        correlationid="c-1",
        traceparent=PARENT,
    )
    relay = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
    headers = {tracing.HEADER_TRACEPARENT: relay, tracing.HEADER_PUBLISHED_MS: 1_000_000}
    span = tracing.consume_span(
        queue="q",
        event=event,
        headers=headers,
        received_ns=1_002_500 * 10**6,
        received_ms=1_002_500,
    )
    span.end()
    (done,) = recorded.get_finished_spans()
    assert done.parent is not None and f"{done.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert f"{done.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert [f"{link.context.span_id:016x}" for link in done.links] == ["1111111111111111"]
    assert done.attributes is not None
    assert done.attributes["kohtaamo.queue.wait_s"] == 2.5
    assert done.attributes["kohtaamo.correlation_id"] == "c-1"


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {tracing.HEADER_TRACEPARENT: b"\xff", tracing.HEADER_PUBLISHED_MS: "soon"},
        {tracing.HEADER_TRACEPARENT: "nope", tracing.HEADER_PUBLISHED_MS: True},
        {tracing.HEADER_PUBLISHED_MS: 2**70},
        {tracing.HEADER_PUBLISHED_MS: 5_000_000},  # from a clock ahead of this one
    ],
)
def test_odd_headers_give_no_link_and_no_negative_wait(
    recorded: InMemorySpanExporter, headers: dict[str, Any] | None
) -> None:
    event = CloudEvent(
        source="/kohtaamo/helsinki/events",
        type="kohtaamo.events.registration.confirmed.v1",
        municipality="helsinki",
        traceparent="not a traceparent",
    )
    tracing.consume_span(
        queue="q", event=event, headers=headers, received_ns=10**15, received_ms=10**6
    ).end()
    (done,) = recorded.get_finished_spans()
    assert done.parent is None and not done.links  # a trace of its own
    assert done.attributes is not None
    assert done.attributes.get("kohtaamo.queue.wait_s", 0.0) == 0.0


def test_publish_span_continues_the_staged_context(recorded: InMemorySpanExporter) -> None:
    tracing.publish_span(
        exchange="kohtaamo.events.events",
        routing_key="events.registration.confirmed.v1",
        message_id="e1",
        traceparent=PARENT,
        tracestate=None,
        outbox_wait_s=-0.1,
    ).end()
    (done,) = recorded.get_finished_spans()
    assert done.parent is not None and f"{done.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert done.attributes is not None and done.attributes["kohtaamo.outbox.wait_s"] == 0.0


def _kit_spans(sampler: Any = None) -> tuple[KitSpans, InMemorySpanExporter, TracerProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler) if sampler else TracerProvider()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    return KitSpans(provider, processor, "kit"), exporter, provider


def test_kit_spans_follow_the_sampler_and_parent_their_children() -> None:
    """The kit's own spans ask the provider's sampler as the SDK does: a parent that was
    not sampled gives a non-recording span that still carries the trace on; a ratio of 0
    records no new trace; a recorded span parents the instrumentations' spans."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    spans, exporter, provider = _kit_spans(ParentBased(TraceIdRatioBased(0.0)))
    parent = tracing.parse_traceparent(PARENT)
    assert parent is not None
    not_sampled = tracing.parse_traceparent(PARENT[:-2] + "00")
    quiet = spans.start(
        "process q", parent=not_sampled, kind=tracing.SpanKind.CONSUMER, attributes={}
    )
    assert not quiet.is_recording()
    assert f"{quiet.get_span_context().trace_id:032x}" == PARENT.split("-")[1]
    assert not quiet.get_span_context().trace_flags.sampled
    root = spans.start("publish x", parent=None, kind=tracing.SpanKind.PRODUCER, attributes={})
    assert not root.is_recording()  # a new trace, and the ratio says none
    span = spans.start(
        "process q", parent=parent, kind=tracing.SpanKind.CONSUMER, attributes={"a": 1}
    )
    assert span.is_recording() and span.get_span_context().trace_flags.sampled
    with tracing.activated(span):
        provider.get_tracer("pymongo").start_span("find").end()
        assert trace.get_current_span() is span
    span.set_attribute("kohtaamo.outcome", "applied")
    try:
        raise RuntimeError("handler failed")
    except RuntimeError as exc:
        span.record_exception(exc)
        span.set_status(tracing.error_status(exc))
    span.set_status(tracing.error_status(ValueError("later")))  # the last error wins
    span.end()
    span.set_attribute("after", "end")  # ignored, as by the SDK
    span.end()  # once
    child, done = exporter.get_finished_spans()
    assert child.parent is not None and child.parent.span_id == span.get_span_context().span_id
    assert child.context is not None and child.context.trace_id == parent.trace_id
    assert done is span and dict(done.attributes or {}) == {"a": 1, "kohtaamo.outcome": "applied"}
    assert [e.name for e in done.events] == ["exception"]
    event_attributes = done.events[0].attributes or {}
    assert event_attributes["exception.type"] == "RuntimeError"
    assert "handler failed" in str(event_attributes["exception.stacktrace"])
    assert done.status.status_code.name == "ERROR"
    assert done.status.description == "ValueError: later"
    assert done.parent == parent and done.start_time and done.end_time


def _samplers() -> list[Any]:
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        ParentBased,
        TraceIdRatioBased,
    )

    return [
        ParentBased(ALWAYS_ON),  # the default
        ParentBased(TraceIdRatioBased(0.0)),
        ParentBased(TraceIdRatioBased(1.0), remote_parent_sampled=ALWAYS_OFF),
        ALWAYS_ON,
        ALWAYS_OFF,
        TraceIdRatioBased(1.0),
    ]


@pytest.mark.parametrize("sampler", _samplers(), ids=lambda s: s.get_description())
@pytest.mark.parametrize("remote", [True, False])
@pytest.mark.parametrize("flags", ["00", "01", None])
def test_kit_spans_decide_as_the_sdk(sampler: Any, remote: bool, flags: str | None) -> None:
    """Where the sampler's answer is fixed the kit decides without asking it: the same
    decision, flags and trace state as an SDK span with that parent gets."""
    from opentelemetry import trace

    spans, _, provider = _kit_spans(sampler)
    parent = None
    if flags is not None:
        parsed = tracing.parse_traceparent(PARENT[:-2] + flags, "vendor=1")
        assert parsed is not None
        parent = SpanContext(
            parsed.trace_id, parsed.span_id, remote, parsed.trace_flags, parsed.trace_state
        )
    ours = spans.start("process q", parent=parent, kind=tracing.SpanKind.CONSUMER, attributes={})
    context = None if parent is None else parent_context(parent)
    theirs = provider.get_tracer("sdk").start_span("process q", context=context)
    assert ours.is_recording() is theirs.is_recording()
    mine, sdk = ours.get_span_context(), theirs.get_span_context()
    assert mine.trace_flags == sdk.trace_flags
    assert mine.trace_state == sdk.trace_state
    if parent is not None:
        assert mine.trace_id == sdk.trace_id == parent.trace_id
    assert isinstance(trace.get_current_span(), trace.NonRecordingSpan)  # nothing attached


def parent_context(parent: SpanContext) -> Any:
    from opentelemetry import trace
    from opentelemetry.context import Context

    return trace.set_span_in_context(trace.NonRecordingSpan(parent), Context())

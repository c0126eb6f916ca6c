"""The kit's OTLP encoder (kit.otlp_encoding) gives the very request the exporter's own
encoder gives, for every kind of span the services make: the SDK's (server, client,
store), the kit's own (kit.spans), with events, exceptions, links, statuses, trace state,
attribute values of every type, several resources and scopes, and values neither can
encode (left off, the span still sent)."""

from __future__ import annotations

from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
    encode_spans as library_encode_spans,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from kit import otlp_encoding
from kit.spans import KitSpans

REMOTE = SpanContext(
    0x4BF92F3577B34DA6A3CE929D0E0E4736,
    0x00F067AA0BA902B7,
    is_remote=True,
    trace_flags=TraceFlags(1),
    trace_state=TraceState([("vendor", "1"), ("other", "x")]),
)


def _spans() -> list[Any]:
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    first = TracerProvider(resource=Resource.create({"service.name": "kohtaamo-a", "n": 1}))
    first.add_span_processor(processor)
    # Equal attributes, another object: one ResourceSpans for both, as the library does.
    twin = TracerProvider(resource=Resource.create({"service.name": "kohtaamo-a", "n": 1}))
    twin.add_span_processor(processor)
    other = TracerProvider(resource=Resource({"service.name": "kohtaamo-b"}, "https://s/1"))
    other.add_span_processor(processor)

    server = first.get_tracer("server", "1.2", "https://schema/1", {"scope.attr": True})
    with server.start_as_current_span(
        "GET /x",
        kind=SpanKind.SERVER,
        attributes={
            "s": "text",
            "i": 42,
            "f": 0.25,
            "b": False,
            "strings": ["a", "b"],
            "ints": (1, 2, 3),
            "bools": [True, False],
        },
    ) as root:
        with first.get_tracer("pymongo").start_as_current_span(
            "find", kind=SpanKind.CLIENT, links=[Link(REMOTE, {"why": "linked"})]
        ) as child:
            child.add_event("retry", {"attempt": 2}, timestamp=123)
            child.set_status(Status(StatusCode.ERROR, "it broke"))
        try:
            raise ValueError("bad value")
        except ValueError as exc:
            root.record_exception(exc)
        root.set_status(StatusCode.OK)
    twin.get_tracer("server", "1.2", "https://schema/1", {"scope.attr": True}).start_span(
        "twin", context=set_span_in_context(root)
    ).end()
    other.get_tracer("x").start_span("remote child", context=_remote_context()).end()

    kit = KitSpans(first, processor, "kit")
    consumed = kit.start(
        "process q",
        parent=REMOTE,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "rabbitmq",
            "kohtaamo.queue.wait_s": 0.5,
            # Values at the wire format's edges: lengths past one byte, zero and negative
            # numbers, empty and non-ASCII text, values of no simple type.
            "long": "ä" * 200,
            "longer": "x" * 20_000,
            "negative": -5,
            "min": -(2**63),
            "max": 2**63 - 1,
            "zero": 0,
            "zero_float": 0.0,
            "empty": "",
            "no": False,
            "nothing": None,
            "mixed": ["a", 1, 2.5, True],
            "map": {"k": "v"},
            "raw": b"\x00\x01",
        },
        links=[Link(REMOTE)],
        start_time=1_000,
    )
    consumed.set_attribute("kohtaamo.outcome", "failed")
    consumed.record_exception(RuntimeError("no"))
    consumed.set_status(Status(StatusCode.ERROR, "RuntimeError: no"))
    consumed.end(2_000)
    kit.start("publish e", parent=None, kind=SpanKind.PRODUCER, attributes={}).end()
    kit.start("n" * 300, parent=REMOTE, kind=SpanKind.INTERNAL, attributes={"a": "b"}).end()
    spans: list[Any] = list(exporter.get_finished_spans())
    # Values the exporters cannot send (out of range, a lone surrogate, an unknown type),
    # and a span without a scope.
    spans.append(
        ReadableSpan(
            "odd",
            context=SpanContext(1, 2, is_remote=False),
            resource=first.resource,
            attributes={"big": 2**70, "bad": "\ud800", "obj": object(), "fine": "kept"},
            start_time=5,
            end_time=6,
        )
    )
    return spans


def _remote_context() -> Any:
    from opentelemetry.trace import NonRecordingSpan

    return set_span_in_context(NonRecordingSpan(REMOTE))


def _ours(spans: list[Any]) -> ExportTraceServiceRequest:
    """Our request's bytes, as the receiver reads them."""
    return ExportTraceServiceRequest.FromString(
        otlp_encoding.encode_spans(spans).SerializePartialToString()
    )


def test_same_request_as_the_library() -> None:
    spans = _spans()
    data = otlp_encoding.encode_spans(spans).SerializePartialToString()
    theirs = library_encode_spans(spans)
    # The very bytes protobuf writes for the library's request (fields in order).
    assert data == theirs.SerializeToString(deterministic=True)
    ours = ExportTraceServiceRequest.FromString(data)
    assert ours == theirs
    # What the comparison covers is there: grouping, links, events, the left-off values.
    assert len(ours.resource_spans) == 2
    sent = [s for r in ours.resource_spans for scope in r.scope_spans for s in scope.spans]
    assert len(sent) == len(spans)
    odd = next(s for s in sent if s.name == "odd")
    assert [kv.key for kv in odd.attributes] == ["fine"]
    consumed = next(s for s in sent if s.name == "process q")
    assert consumed.parent_span_id == REMOTE.span_id.to_bytes(8, "big")
    assert consumed.flags == 0x300 and consumed.links[0].flags == 0x300
    assert [e.name for e in consumed.events] == ["exception"]
    assert consumed.status.code == 2 and consumed.status.message == "RuntimeError: no"


def test_scope_and_resource_edge_cases_match() -> None:
    bare = Resource({})
    spans = [
        ReadableSpan(
            "no scope",
            context=SpanContext(3, 4, is_remote=False),
            resource=bare,
            start_time=1,
            end_time=2,
        ),
        ReadableSpan(
            "empty scope",
            context=SpanContext(3, 5, is_remote=False),
            parent=SpanContext(3, 4, is_remote=False),
            resource=bare,
            instrumentation_scope=InstrumentationScope(""),
            start_time=1,
            end_time=2,
        ),
    ]
    theirs = library_encode_spans(spans)
    assert _ours(spans) == theirs
    assert otlp_encoding.encode_spans(spans).SerializePartialToString() == (
        theirs.SerializeToString(deterministic=True)
    )


class _Kept(SpanProcessor):
    """A span processor that keeps what ends."""

    def __init__(self) -> None:
        self.ended: list[Any] = []

    def on_end(self, span: Any) -> None:
        self.ended.append(span)


def test_kit_spans_written_when_they_end_are_the_librarys_bytes() -> None:
    """With the kit's exporter (`encode`), a kit span is written as OTLP bytes when it
    ends: the very bytes the library writes for that span, in the same request."""
    provider = TracerProvider(resource=Resource.create({"service.name": "kohtaamo-a"}))
    kept = _Kept()
    kit = KitSpans(provider, kept, "kit", encode=True)
    span: Any = kit.start(
        "process q",
        parent=REMOTE,
        kind=SpanKind.CONSUMER,
        attributes={"messaging.message.id": "m-1", "kohtaamo.queue.wait_s": 0.25},
        links=[Link(REMOTE)],
    )
    span.set_attribute("kohtaamo.outcome", "failed")
    span.record_exception(RuntimeError("no"))
    span.set_status(Status(StatusCode.ERROR, "RuntimeError: no"))
    span.end()
    (encoded,) = kept.ended
    assert isinstance(encoded, otlp_encoding.EncodedSpan)
    assert encoded.context == span.get_span_context() and encoded.resource is provider.resource
    theirs = library_encode_spans([span])
    (sent,) = theirs.resource_spans[0].scope_spans[0].spans
    assert encoded.encoded == sent.SerializeToString(deterministic=True)
    request = otlp_encoding.encode_spans([encoded]).SerializePartialToString()
    assert request == theirs.SerializeToString(deterministic=True)
    # Not sampled: nothing is written (the processor drops it as before).
    quiet = kit.start(
        "process q",
        parent=SpanContext(REMOTE.trace_id, REMOTE.span_id, True, TraceFlags(0)),
        kind=SpanKind.CONSUMER,
        attributes={},
    )
    assert not quiet.is_recording()

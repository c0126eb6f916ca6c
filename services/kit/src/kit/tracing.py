"""OpenTelemetry tracing, off unless configured.

Configured by the standard `OTEL_*` environment variables: tracing is on when an OTLP
endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or
`OTEL_TRACES_EXPORTER=otlp`, unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
Export is OTLP over HTTP/protobuf in batches; sampling, headers, timeouts and resource
attributes are the SDK's own `OTEL_*` settings. Off, no provider, exporter or
instrumentation is created and the kit's hot paths test one module flag (`enabled`).

What is traced (on): every HTTP request (FastAPI), httpx calls, store commands inside a
trace (PyMongo; the background loops' own commands start no trace), the gateway's
upstream calls, the relay's publish of each outbox entry and every consumed message. An
event carries the span context it was staged in as the CloudEvents distributed-tracing
extension (`traceparent`/`tracestate`, part of what the site signs); the relay's publish
span and each consumer's span are its children, in the same trace, across services and
across federation. The relay's span also travels as an AMQP `traceparent` header (not
signed: a consumer only links to it, it never becomes a parent)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, TraceFlags, TraceState

if TYPE_CHECKING:  # the SDK is imported only when tracing is on
    from kit.spans import KitSpans

__all__ = ["Link", "Span", "SpanContext", "SpanKind", "enabled", "setup", "tracer"]

enabled = False
# The AMQP header with the relay's publish span (a link for the consumer) and the one
# with the publish time in milliseconds since the epoch (the queue wait).
HEADER_TRACEPARENT = "traceparent"
HEADER_PUBLISHED_MS = "x-kohtaamo-published-ms"
# W3C trace context, version 00 (a later version's first four fields parse the same).
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
# Shared by the span contexts parsed (both immutable): one object less per message.
_NO_STATE = TraceState()
_FLAGS = {0: TraceFlags(TraceFlags.DEFAULT), 1: TraceFlags(TraceFlags.SAMPLED)}
_provider: Any = None
_tracer: trace.Tracer = trace.NoOpTracer()
_spans: KitSpans | None = None  # the consumers' and the relay's spans


def configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces to be exported."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    if exporter and exporter != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter!r}: only otlp (HTTP) or none")
    protocol = env.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    ).strip()
    if protocol and protocol != "http/protobuf":
        raise ValueError(f"OTLP protocol {protocol!r}: the kit exports http/protobuf only")
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return bool(endpoint) or exporter == "otlp"


def setup(service: str, *, site: str = "", env: Mapping[str, str] | None = None) -> bool:
    """Create the tracer provider and its OTLP exporter and instrument the libraries, once
    per process, when `configured`; True when tracing is on."""
    global enabled, _provider, _tracer, _spans
    if _provider is not None:  # once (`enabled` may have been turned off since: a bench)
        return enabled
    if not configured(env):
        return False
    # Imported only when on: the SDK and the exporter are not loaded otherwise.
    from opentelemetry.exporter.otlp.proto.http import trace_exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    from kit import otlp_encoding
    from kit.spans import KitSpans

    # The exporter encodes with the kit's encoder: the same bytes at half the cost, in a
    # thread that shares the interpreter lock with the consumers (kit.otlp_encoding).
    setattr(trace_exporter, "encode_spans", otlp_encoding.encode_spans)  # noqa: B010
    attributes = {"service.name": f"kohtaamo-{service}", "service.namespace": "kohtaamo"}
    if site:
        attributes["kohtaamo.site"] = site
    # Resource.create lets OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
    resource = Resource.create(attributes)
    processor = BatchSpanProcessor(OTLPSpanExporter())
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    # Store commands only inside a trace: the relay's polls, lease renewals and gauges
    # would otherwise each start a trace of their own, every fraction of a second.
    in_traces = TracerProvider(resource=resource, sampler=ParentBased(root=ALWAYS_OFF))
    in_traces.add_span_processor(processor)
    PymongoInstrumentor().instrument(tracer_provider=in_traces)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    _tracer = provider.get_tracer("kit")
    _spans = KitSpans(provider, processor, "kit", encode=True)
    enabled = True
    return True


def instrument_app(app: Any, *, trusted: list[str]) -> None:
    """HTTP server spans for a FastAPI app (when on). Incoming trace headers are believed
    only from `trusted` peers (the kit's trusted proxies: the gateway in front of a
    service); the edge starts its own traces, so a caller cannot choose the trace id or
    force sampling."""
    if not enabled:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls="healthz,readyz,metrics",
        exclude_spans=["receive", "send"],  # one span per request, not per ASGI message
    )
    # Outside the tracing middleware, which the instrumentor puts outermost.
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: TraceHeaderGate(build(), trusted=trusted)


class TraceHeaderGate:
    """Drops `traceparent`, `tracestate` and `baggage` of a request from an untrusted peer
    before the tracing middleware reads them."""

    def __init__(self, app: Any, *, trusted: list[str]) -> None:
        import ipaddress

        self.app = app
        self.networks = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def _trusted(self, scope: MutableMapping[str, Any]) -> bool:
        import ipaddress

        client = scope.get("client")
        if not client or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._trusted(scope):
            headers = scope["headers"]
            if any(k in _TRACE_HEADERS for k, _ in headers):
                scope["headers"] = [(k, v) for k, v in headers if k not in _TRACE_HEADERS]
        await self.app(scope, receive, send)


def flush() -> None:
    """Export what is buffered (at an app's end; the process may go on, as tests do)."""
    if _provider is not None:
        _provider.force_flush(5_000)


def tracer() -> trace.Tracer:
    return _tracer


def current_span() -> Span:
    return trace.get_current_span()


# -- span contexts -------------------------------------------------------------------------


def current_traceparent() -> tuple[str | None, str | None]:
    """The active span's W3C `traceparent` and `tracestate` (None, None without one)."""
    if not enabled:
        return None, None
    return format_context(trace.get_current_span().get_span_context())


def format_context(context: SpanContext) -> tuple[str | None, str | None]:
    if not context.is_valid:
        return None, None
    parent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    state = context.trace_state.to_header() if context.trace_state else ""
    return parent, state or None


def parse_traceparent(traceparent: Any, tracestate: Any = None) -> SpanContext | None:
    """A remote span context from W3C header values, or None when they do not parse (a
    careless or hostile value starts no trace and breaks nothing: W3C says to ignore it)."""
    if not isinstance(traceparent, str) or len(traceparent) > 256:
        return None
    match = _TRACEPARENT.match(traceparent)
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    state = _NO_STATE
    if tracestate and isinstance(tracestate, str) and len(tracestate) <= 512:
        state = TraceState.from_header([tracestate])
    return SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=True,
        trace_flags=_FLAGS[int(flags_hex, 16) & TraceFlags.SAMPLED],
        trace_state=state,
    )


def parent_of(context: SpanContext | None) -> otel_context.Context | None:
    """An OpenTelemetry context whose parent is `context` (None: a new trace)."""
    if context is None:
        return otel_context.Context()  # not the current span's: the event's own
    return trace.set_span_in_context(trace.NonRecordingSpan(context), otel_context.Context())


def attach(span: Span) -> Token[otel_context.Context]:
    """Make `span` the current span; the token undoes it (`detach`). For a hot path
    (a message's span): `activated` without a generator."""
    return otel_context.attach(trace.set_span_in_context(span))


def detach(token: Token[otel_context.Context]) -> None:
    otel_context.detach(token)


@contextmanager
def activated(span: Span | None) -> Iterator[None]:
    """`span` as the current span for what runs inside (nothing when None)."""
    if span is None:
        yield
        return
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        otel_context.detach(token)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def child_span(
    name: str,
    *,
    traceparent: Any,
    tracestate: Any,
    kind: SpanKind,
    attributes: dict[str, Any],
) -> Span:
    """A span of the kit's continuing a stored span context (a child of it), or a new
    trace when there is none or it does not parse."""
    assert _spans is not None, "tracing is off"
    return _spans.start(
        name, parent=parse_traceparent(traceparent, tracestate), kind=kind, attributes=attributes
    )


def publish_span(
    *,
    exchange: str,
    routing_key: str,
    message_id: str,
    traceparent: str | None,
    tracestate: str | None,
    outbox_wait_s: float | None,
) -> Span:
    """The relay's span for publishing one outbox entry: a child of the span the event was
    staged in (a new trace for an event staged outside any)."""
    attributes: dict[str, Any] = {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": exchange,
        "messaging.rabbitmq.destination.routing_key": routing_key,
        "messaging.message.id": message_id,
    }
    if outbox_wait_s is not None:
        attributes["kohtaamo.outbox.wait_s"] = max(0.0, outbox_wait_s)
    return child_span(
        f"publish {exchange}",
        traceparent=traceparent,
        tracestate=tracestate,
        kind=SpanKind.PRODUCER,
        attributes=attributes,
    )


def consume_span(
    *,
    queue: str,
    event: Any,
    headers: Mapping[str, Any] | None,
    received_ns: int,
    received_ms: int,
    name: str = "process",
) -> Span:
    """A consumer's span for one message: a child of the span the event was staged in (its
    envelope's `traceparent`, covered by the site's signature), linked to the relay's
    publish span (the AMQP header), with the time it waited in the queue."""
    # Few attributes: the SDK checks each one (a third of a span's cost); the rest of
    # the envelope is found by the message id.
    attributes: dict[str, Any] = {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": queue,
        "messaging.message.id": event.id,
        "cloudevents.event_type": event.type,
    }
    if event.correlationid:
        attributes["kohtaamo.correlation_id"] = event.correlationid
    links: list[Link] = []
    if headers:
        published = headers.get(HEADER_PUBLISHED_MS)
        if type(published) is int and 0 < published < 2**53:
            # Across sites the clocks differ: never negative.
            attributes["kohtaamo.queue.wait_s"] = max(0.0, (received_ms - published) / 1000)
        relay = parse_traceparent(headers.get(HEADER_TRACEPARENT))
        if relay is not None:
            links.append(Link(relay))
    assert _spans is not None, "tracing is off"
    return _spans.start(
        f"{name} {queue}",
        parent=parse_traceparent(event.traceparent, event.tracestate),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=links,
        start_time=received_ns,
    )


def add_trace_ids(_: object, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: `trace_id` and `span_id` of the active span, if any."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", f"{context.trace_id:032x}")
        event.setdefault("span_id", f"{context.span_id:016x}")
    return event


def error_status(exc: BaseException) -> Any:
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500])

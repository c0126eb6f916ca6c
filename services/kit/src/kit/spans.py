"""The kit's own spans (a consumed message's, a relay publish's), recorded without the
SDK span's per-attribute checks, locks and end-time copy: with every trace sampled, the
SDK's span cost three times as much as this one per message (docs/performance.md).

A `KitSpan` is what the SDK exports (a `ReadableSpan`) and what the API's users see (a
`Span`): children started by the instrumentations (store commands, HTTP calls) take it as
their parent, and ended it goes to the same span processor as every SDK span. The sampler
is the provider's (`OTEL_TRACES_SAMPLER`), asked as the SDK asks it. Its attributes are
the kit's own, few and of checked types; only the event loop's thread touches a span."""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util.types import Attributes, AttributeValue

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)


class KitSpans:
    """Starts the kit's spans for one tracer provider, sending them to `processor` (the
    provider's batch processor) when they end."""

    def __init__(self, provider: TracerProvider, processor: SpanProcessor, name: str) -> None:
        self.sampler = provider.sampler
        self.ids = provider.id_generator
        self.resource = provider.resource
        self.processor = processor
        self.scope = InstrumentationScope(name)

    def start(
        self,
        name: str,
        *,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, AttributeValue],
        links: Sequence[Link] = (),
        start_time: int | None = None,
    ) -> trace.Span:
        """A span whose parent is `parent` (a remote span context; None: a new trace),
        recording when the sampler says so; otherwise a non-recording span that still
        carries the trace on (to the events the handler stages, say)."""
        if parent is not None and parent.is_valid:
            trace_id = parent.trace_id
            context = trace.set_span_in_context(trace.NonRecordingSpan(parent), Context())
        else:
            parent = None
            trace_id = self.ids.generate_trace_id()
            context = Context()
        sampled = self.sampler.should_sample(context, trace_id, name, kind, attributes, links)
        flags = _SAMPLED if sampled.decision is Decision.RECORD_AND_SAMPLE else _NOT_SAMPLED
        if parent is None and self.ids.is_trace_id_random():
            flags = TraceFlags(flags | TraceFlags.RANDOM_TRACE_ID)
        elif parent is not None and parent.trace_flags.random_trace_id:
            flags = TraceFlags(flags | TraceFlags.RANDOM_TRACE_ID)
        span_context = SpanContext(
            trace_id,
            self.ids.generate_span_id(),
            is_remote=False,
            trace_flags=flags,
            trace_state=sampled.trace_state,
        )
        if sampled.decision is Decision.DROP:
            return trace.NonRecordingSpan(span_context)
        if sampled.attributes:
            attributes = {**attributes, **sampled.attributes}
        span = KitSpan(
            name,
            context=span_context,
            parent=parent,
            resource=self.resource,
            attributes=attributes,
            links=tuple(links),
            kind=kind,
            start_time=start_time or time.time_ns(),
            instrumentation_scope=self.scope,
        )
        span.processor = self.processor
        self.processor.on_start(span, parent_context=context)  # type: ignore[arg-type]  # a KitSpan is read as the SDK's Span
        return span


class KitSpan(trace.Span, ReadableSpan):
    """A recording span of the kit's (see the module): its attributes a plain dict."""

    processor: SpanProcessor
    _attributes: dict[str, AttributeValue]

    def get_span_context(self) -> SpanContext:
        context = self._context
        assert context is not None
        return context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self._end_time is None:
            self._attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self._end_time is None:
            self._attributes.update(attributes)

    def add_event(
        self, name: str, attributes: Attributes = None, timestamp: int | None = None
    ) -> None:
        if self._end_time is None:
            event = Event(name, attributes, timestamp or time.time_ns())
            self._events = (*self._events, event)

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        if self._end_time is None and context.is_valid:
            self._links = (*self._links, Link(context, attributes))

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # As the SDK: OK is final, UNSET changes nothing.
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if not isinstance(status, Status):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        kind = type(exception)
        module = kind.__module__
        recorded: dict[str, Any] = {
            "exception.type": kind.__qualname__
            if module in ("", "builtins")
            else f"{module}.{kind.__qualname__}",
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        recorded.update(attributes or {})
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            return
        self._end_time = end_time or time.time_ns()
        self.processor.on_end(self)

"""The kit's own spans (a consumed message's, a relay publish's), recorded without the
SDK span's per-attribute checks, locks and end-time copy: with every trace sampled, the
SDK's span cost three times as much as this one per message (docs/performance.md).

A `KitSpan` is what the SDK exports (a `ReadableSpan`) and what the API's users see (a
`Span`): children started by the instrumentations (store commands, HTTP calls) take it as
their parent, and ended it goes to the same span processor as every SDK span. With the
kit's exporter it is written as OTLP bytes when it ends (kit.otlp_encoding): the batch
processor then holds one small object per span, not a span's dozen. The sampler is the
provider's (`OTEL_TRACES_SAMPLER`), asked as the SDK asks it, except where its answer is
fixed (the default sampler's, and the ratio sampler's for a message, which always has a
parent): then the kit takes that answer without the call and the context objects it
needs. Its attributes are the kit's own, few and of checked types; only the event loop's
thread touches a span."""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, StaticSampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util.types import Attributes, AttributeValue

from kit.otlp_encoding import EncodedSpan, span_bytes

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)


class KitSpans:
    """Starts the kit's spans for one tracer provider, sending them to `processor` (the
    provider's batch processor) when they end."""

    def __init__(
        self,
        provider: TracerProvider,
        processor: SpanProcessor,
        name: str,
        *,
        encode: bool = False,
    ) -> None:
        self.sampler = provider.sampler
        self.ids = provider.id_generator
        self.resource = provider.resource
        self.processor = processor
        self.scope = InstrumentationScope(name)
        # True when the processor's exporter is the kit's OTLP one: a span is written as
        # OTLP bytes when it ends (kit.otlp_encoding.EncodedSpan).
        self.encode = encode
        # What the sampler decides without being asked, where its answer is fixed (the
        # default parent-based one's; the ratio sampler's for a span with a parent): the
        # same result (the parent's trace state, no attributes of its own) at a tenth of
        # the cost. None: it is asked.
        self.decided = _fixed_decisions(self.sampler)
        # The SDK's processors do nothing when a span starts: no context is made for them.
        self.notify_start = type(processor).on_start not in _NOTHING_ON_START

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
            decision = self.decided[1 + 2 * parent.is_remote + parent.trace_flags.sampled]
            trace_state = parent.trace_state
        else:
            parent = None
            trace_id = self.ids.generate_trace_id()
            decision = self.decided[0]
            trace_state = None
        context: Context | None = None
        if decision is None:  # asked as the SDK asks it
            context = Context()
            if parent is not None:
                context = trace.set_span_in_context(trace.NonRecordingSpan(parent), context)
            sampled = self.sampler.should_sample(context, trace_id, name, kind, attributes, links)
            decision, trace_state = sampled.decision, sampled.trace_state
            if sampled.attributes and decision is not Decision.DROP:
                attributes = {**attributes, **sampled.attributes}
        flags = _SAMPLED if decision is Decision.RECORD_AND_SAMPLE else _NOT_SAMPLED
        if parent is None and self.ids.is_trace_id_random():
            flags = TraceFlags(flags | TraceFlags.RANDOM_TRACE_ID)
        elif parent is not None and parent.trace_flags.random_trace_id:
            flags = TraceFlags(flags | TraceFlags.RANDOM_TRACE_ID)
        span_context = SpanContext(
            trace_id,
            self.ids.generate_span_id(),
            is_remote=False,
            trace_flags=flags,
            trace_state=trace_state,
        )
        if decision is Decision.DROP:
            return trace.NonRecordingSpan(span_context)
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
        span.encode = self.encode and flags.sampled
        if self.notify_start:
            if context is None:
                context = Context()
                if parent is not None:
                    context = trace.set_span_in_context(trace.NonRecordingSpan(parent), context)
            self.processor.on_start(span, parent_context=context)  # type: ignore[arg-type]  # a KitSpan is read as the SDK's Span
        return span


def _fixed_decisions(sampler: Sampler) -> tuple[Decision | None, ...]:
    """Per case (a new trace; a local parent not sampled, sampled; a remote parent not
    sampled, sampled) the decision of a sampler that always answers it the same way."""

    def fixed(each: Any) -> Decision | None:
        return each._decision if type(each) is StaticSampler else None

    if type(sampler) is ParentBased:
        cases = (
            "_root",
            "_local_parent_not_sampled",
            "_local_parent_sampled",
            "_remote_parent_not_sampled",
            "_remote_parent_sampled",
        )
        return tuple(fixed(getattr(sampler, case, None)) for case in cases)
    return (fixed(sampler),) * 5


_NOTHING_ON_START = frozenset(
    {SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start}
)


class KitSpan(trace.Span, ReadableSpan):
    """A recording span of the kit's (see the module): its attributes a plain dict."""

    processor: SpanProcessor
    encode: bool
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
        if self.encode:
            try:
                context = self.get_span_context()
                data = span_bytes(
                    context,
                    self._parent,
                    self._name,
                    self._kind.value,
                    self._start_time,
                    self._end_time,
                    self._attributes,
                    self._events,
                    self._links,
                    self._status,
                )
                encoded = EncodedSpan(context, self._resource, self._instrumentation_scope, data)
            except Exception:  # never the message's failure: the exporter tries it again
                self.processor.on_end(self)
                return
            self.processor.on_end(encoded)  # type: ignore[arg-type]  # the kit's exporter reads an EncodedSpan
            return
        self.processor.on_end(self)

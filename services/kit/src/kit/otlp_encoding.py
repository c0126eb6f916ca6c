"""OTLP encoding of finished spans: the very bytes of the `ExportTraceServiceRequest` the
OTLP exporter's own encoder builds (a test compares the two), written straight in the
protobuf wire format at a fraction of its cost.

The exporter's thread shares the interpreter lock with the event loop, so every
microsecond spent per span is taken from the consumers. The library's encoder hashed the
resource (a JSON dump of its attributes) for every span and built a message object per
span, attribute and value. Here a span is written as bytes in field order (what protobuf
itself writes), a resource and a scope once per batch, and the kit's own spans are written
when they end (kit.spans): what waits for the exporter is then one bytes object per span
(`EncodedSpan`) instead of a span's dozen objects for the collector to walk through."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, Status

# SpanFlags: whether the parent (or a link's span) is remote is known, and whether it is.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_INT64 = 2**63
_UINT64 = 2**64
_VARINTS = [bytes((n,)) for n in range(128)]
_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack
# Span.flags (field 16, fixed32) for a local and for a remote parent.
_FLAGS = {
    False: b"\x85\x01" + struct.pack("<I", _HAS_IS_REMOTE),
    True: b"\x85\x01" + struct.pack("<I", _HAS_IS_REMOTE | _IS_REMOTE),
}
_LINK_FLAGS = {
    False: b"\x35" + struct.pack("<I", _HAS_IS_REMOTE),
    True: b"\x35" + struct.pack("<I", _HAS_IS_REMOTE | _IS_REMOTE),
}
_EMPTY_STATUS = b"\x7a\x00"  # a status is always sent, empty when UNSET
# Field tags and their encodings kept by value: span names, attribute keys and kinds
# repeat (a bound keeps a careless caller's unique names from growing them for ever).
_CACHE_LIMIT = 4096
_keys: dict[str, bytes] = {}
_names: dict[str, bytes] = {}
_fields: dict[tuple[bytes, str, str], bytes] = {}


class EncodedSpan:
    """A finished span already written as an OTLP `Span` (kit.spans), with what the batch
    processor and the encoder ask of a span: its context (sampled), resource and scope."""

    __slots__ = ("context", "encoded", "instrumentation_scope", "resource")

    def __init__(
        self,
        context: SpanContext,
        resource: Resource,
        scope: InstrumentationScope | None,
        encoded: bytes,
    ) -> None:
        self.context = context
        self.resource = resource
        self.instrumentation_scope = scope
        self.encoded = encoded


class EncodedRequest:
    """An export request written as bytes: what the exporter asks of the request it is
    given (its serialization)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def SerializePartialToString(self, **_: Any) -> bytes:
        return self.data

    def SerializeToString(self, **_: Any) -> bytes:
        return self.data


def encode_spans(spans: Sequence[ReadableSpan | EncodedSpan]) -> EncodedRequest:
    """The export request for `spans`, grouped by resource, then instrumentation scope."""
    # Grouped by object first (cheap), then the distinct objects by equality, as the
    # library does (equal resources of different objects share one ResourceSpans).
    by_object: dict[tuple[int, int], tuple[Any, Any, list[Any]]] = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope
        key = (id(resource), id(scope))
        group = by_object.get(key)
        if group is None:
            group = by_object[key] = (resource, scope, [])
        group[2].append(span)
    grouped: dict[Any, dict[Any, list[Any]]] = {}
    for resource, scope, members in by_object.values():
        grouped.setdefault(resource, {}).setdefault(scope or None, []).extend(members)
    request: list[bytes] = []
    for resource, scopes in grouped.items():
        parts = [_message(b"\x0a", _attribute_fields(b"\x0a", resource.attributes))]
        for scope, members in scopes.items():
            parts.append(_message(b"\x12", _scope_spans(scope, members)))
        if resource.schema_url:
            parts.append(_string(b"\x1a", resource.schema_url))
        request.append(_message(b"\x0a", b"".join(parts)))
    return EncodedRequest(b"".join(request))


def _scope_spans(scope: InstrumentationScope | None, members: Iterable[Any]) -> bytes:
    fields = []
    if scope is None:
        fields.append(b"\x0a\x00")  # present even without a scope, as sent
    else:
        described = []
        if scope.name:
            described.append(_string(b"\x0a", scope.name))
        if scope.version:
            described.append(_string(b"\x12", scope.version))
        described.append(_attribute_fields(b"\x1a", scope.attributes))
        fields.append(_message(b"\x0a", b"".join(described)))
    for span in members:
        encoded = span.encoded if type(span) is EncodedSpan else encode_span(span)
        fields.append(b"\x12" + _varint(len(encoded)) + encoded)
    if scope is not None and scope.schema_url:
        fields.append(_string(b"\x1a", scope.schema_url))
    return b"".join(fields)


def encode_span(span: ReadableSpan) -> bytes:
    """One span as the bytes of an OTLP `Span` message."""
    context = span.context
    assert context is not None
    return span_bytes(
        context,
        span.parent,
        span.name,
        span.kind.value,
        span.start_time,
        span.end_time,
        span.attributes,
        span.events,
        span.links,
        span.status,
        (span.dropped_attributes, span.dropped_events, span.dropped_links),
    )


def span_bytes(
    context: SpanContext,
    parent: SpanContext | None,
    name: str,
    kind: int,
    start: int | None,
    end: int | None,
    attributes: Mapping[str, Any] | None,
    events: Sequence[Event],
    links: Sequence[Link],
    status: Status,
    dropped: tuple[int, int, int] = (0, 0, 0),
) -> bytes:
    """The bytes of an OTLP `Span` message (fields in order) from a span's parts: a
    kit span (kit.spans) gives its own, without the properties' copies and checks."""
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
    ]
    state = context.trace_state
    if state:
        parts.append(_string(b"\x1a", ",".join(f"{k}={v}" for k, v in state.items())))
    if parent is not None:
        parts += (b"\x22\x08", parent.span_id.to_bytes(8, "big"))
    named = _names.get(name)
    if named is None:
        named = _string(b"\x2a", name) if name else b""
        if len(_names) < _CACHE_LIMIT:
            _names[name] = named
    parts += (named, b"\x30", _VARINTS[kind + 1])  # the API's INTERNAL is 0, OTLP's 1
    if start:
        parts += (b"\x39", _FIXED64(start))
    if end:
        parts += (b"\x41", _FIXED64(end))
    if attributes:
        parts.append(_attribute_fields(b"\x4a", attributes))
    dropped_attributes, dropped_events, dropped_links = dropped
    if dropped_attributes:
        parts += (b"\x50", _varint(dropped_attributes))
    described: list[bytes]
    for event in events:
        described = []
        if event.timestamp:
            described += (b"\x09", _FIXED64(event.timestamp))
        if event.name:
            described.append(_string(b"\x12", event.name))
        described.append(_attribute_fields(b"\x1a", event.attributes))
        if event.dropped_attributes:
            described += (b"\x20", _varint(event.dropped_attributes))
        parts.append(_message(b"\x5a", b"".join(described)))
    if dropped_events:
        parts += (b"\x60", _varint(dropped_events))
    for link in links:
        linked = link.context
        described = [
            b"\x0a\x10",
            linked.trace_id.to_bytes(16, "big"),
            b"\x12\x08",
            linked.span_id.to_bytes(8, "big"),
            _attribute_fields(b"\x22", link.attributes),
        ]
        if link.dropped_attributes:
            described += (b"\x28", _varint(link.dropped_attributes))
        described.append(_LINK_FLAGS[bool(linked.is_remote)])
        parts.append(_message(b"\x6a", b"".join(described)))
    if dropped_links:
        parts += (b"\x70", _varint(dropped_links))
    code = status.status_code.value
    if code or status.description:
        described = []
        if status.description:
            described.append(_string(b"\x12", status.description))
        if code:
            described += (b"\x18", _VARINTS[code])
        parts.append(_message(b"\x7a", b"".join(described)))
    else:
        parts.append(_EMPTY_STATUS)
    parts.append(_FLAGS[parent is not None and parent.is_remote])
    return b"".join(parts)


def _attribute_fields(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    """The attributes as repeated KeyValue fields of `tag`. As the library does, a value
    it cannot encode (a type it does not know, an integer beyond 64 bits, a lone
    surrogate) is left off; the rest is sent."""
    if not attributes:
        return b""
    fields = []
    for key, value in attributes.items():
        if type(value) is str:
            # Most text values repeat (a queue, a type, an outcome): written once.
            pair = (tag, key, value)
            field = _fields.get(pair)
            if field is None:
                field = _field(tag, key, value)
                if field is None:
                    continue
                if len(_fields) >= _CACHE_LIMIT:
                    _fields.clear()  # mostly one-off values (ids): start again
                _fields[pair] = field
            fields.append(field)
            continue
        field = _field(tag, key, value)
        if field is not None:
            fields.append(field)
    return b"".join(fields)


def _field(tag: bytes, key: str, value: Any) -> bytes | None:
    """One attribute as a KeyValue field of `tag`; None when it cannot be encoded."""
    try:
        keyed = _keys.get(key)
        if keyed is None:
            keyed = _string(b"\x0a", key) if key else b""
            if len(_keys) < _CACHE_LIMIT:
                _keys[key] = keyed
        kind = type(value)
        if kind is str:
            data = value.encode()
            encoded = b"\x0a" + _varint(len(data)) + data
        elif kind is int:
            if not -_INT64 <= value < _INT64:
                return None
            encoded = b"\x18" + _varint(value % _UINT64)
        elif kind is float:
            encoded = b"\x21" + _DOUBLE(value)
        elif kind is bool:
            encoded = b"\x10\x01" if value else b"\x10\x00"
        else:
            encoded = _value(value).SerializeToString()
    except (TypeError, ValueError):
        return None
    body: bytes = keyed + b"\x12" + _varint(len(encoded)) + encoded
    return tag + _varint(len(body)) + body


def _varint(n: int) -> bytes:
    if 0 <= n < 128:
        return _VARINTS[n]
    out = bytearray()
    while n > 127:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def _string(tag: bytes, text: str) -> bytes:
    data = text.encode()
    return tag + _varint(len(data)) + data


def _message(tag: bytes, body: bytes) -> bytes:
    return tag + _varint(len(body)) + body


def _value(value: Any) -> AnyValue:
    """Any other value, in the library's order of checks."""
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, Sequence):
        return AnyValue(array_value=ArrayValue(values=[_value(v) for v in value]))
    if isinstance(value, Mapping):
        return AnyValue(
            kvlist_value=KeyValueList(
                values=[KeyValue(key=str(k), value=_value(v)) for k, v in value.items()]
            )
        )
    raise TypeError(f"invalid type {type(value).__name__} of an attribute's value")

"""CloudEvents 1.0 structured JSON envelope shared by every Kohtaamo message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
)

TYPE_PREFIX = "kohtaamo."


class Payload(BaseModel):
    """Base of every versioned `data` model. Unknown fields are ignored, so an additive
    change made by a newer producer never breaks an older consumer."""

    model_config = ConfigDict(extra="ignore")


class CloudEvent(BaseModel):
    """CloudEvents 1.0 envelope with Kohtaamo's extensions.

    `id` is the dedupe key for every consumer's inbox.
    """

    model_config = ConfigDict(extra="allow")

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1, pattern=r"^kohtaamo\.[a-z_]+\.[a-z_.]+\.v[0-9]+$")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)
    municipality: str = Field(min_length=1)
    correlationid: str | None = None
    causationid: str | None = None
    # CloudEvents distributed-tracing extension: the W3C span context the event was made
    # in (kit.tracing); signed with the rest. Bounded, otherwise not checked here: a value
    # that does not parse is ignored by the consumer (W3C), never a reason to refuse.
    traceparent: str | None = Field(default=None, max_length=256)
    tracestate: str | None = Field(default=None, max_length=512)

    @model_serializer(mode="wrap")
    def _without_nulls(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        # CloudEvents leaves an optional attribute out rather than null (`subject`,
        # `correlationid`, an extension). Only the envelope's own attributes: nulls inside
        # `data` are the payload's and stay. Envelopes written before, with `"subject":
        # null`, still parse, and their signatures are checked over the bytes as received.
        document: dict[str, Any] = handler(self)
        return {k: v for k, v in document.items() if v is not None}

    @property
    def routing_key(self) -> str:
        return self.type.removeprefix(TYPE_PREFIX)

    @property
    def producer(self) -> str:
        """The producing service, the second segment of the type."""
        return self.type.split(".")[1]

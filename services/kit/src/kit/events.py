"""Making events: the envelope filled from the current request or message context."""

from __future__ import annotations

from pydantic import BaseModel

from contracts import CloudEvent
from kit import tracing
from kit.context import causation_id, current_correlation_id


def new_event(
    *,
    service: str,
    type_: str,
    data: BaseModel,
    municipality: str,
    subject: str | None = None,
) -> CloudEvent:
    """An envelope whose correlation id continues the chain being handled (HTTP request or
    message) and whose causation id is the event being handled, if any. With tracing on it
    continues the current span's trace too: made where it is caused, it keeps that trace
    wherever it is staged (a batch written for several requests)."""
    parent, state = tracing.current_traceparent()
    return CloudEvent(
        source=f"/kohtaamo/{municipality}/{service}",
        type=type_,
        subject=subject,
        data=data.model_dump(mode="json"),
        municipality=municipality,
        correlationid=current_correlation_id(),
        causationid=causation_id.get(),
        traceparent=parent,
        tracestate=state,
    )

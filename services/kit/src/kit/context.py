"""Per-request / per-message context that flows into logs and published events."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)


def current_correlation_id() -> str:
    """The correlation id of what is being handled, or a fresh one for a new chain."""
    return correlation_id.get() or str(uuid.uuid4())

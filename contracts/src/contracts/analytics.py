"""The analytics service's published events."""

from __future__ import annotations

from contracts.common import ErasureCompleted
from contracts.registry import event_type, register

ERASURE_COMPLETED = event_type("analytics", "erasure.completed")


@register(ERASURE_COMPLETED)
class AnalyticsErasureCompleted(ErasureCompleted):
    pass

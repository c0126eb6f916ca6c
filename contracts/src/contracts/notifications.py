"""The notifications service's published events."""

from __future__ import annotations

from contracts.common import ErasureCompleted
from contracts.envelope import Payload
from contracts.registry import event_type, register

NOTICE_SENT = event_type("notifications", "notice.sent")
NOTICE_FAILED = event_type("notifications", "notice.failed")
ERASURE_COMPLETED = event_type("notifications", "erasure.completed")


@register(NOTICE_SENT)
class NoticeSent(Payload):
    notice_id: str
    user_id: str
    kind: str
    channel: str
    cause_event_id: str


@register(NOTICE_FAILED)
class NoticeFailed(Payload):
    notice_id: str
    user_id: str
    kind: str
    channel: str
    reason: str


@register(ERASURE_COMPLETED)
class NotificationsErasureCompleted(ErasureCompleted):
    pass

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
    """A notice reached its channel: accepted by the SMTP server or the SMS adapter, or
    stored in the user's in-app inbox."""

    notice_id: str
    user_id: str
    kind: str
    channel: str
    cause_event_id: str
    attempts: int | None = None


@register(NOTICE_FAILED)
class NoticeFailed(Payload):
    """A notice failed for good (retries exhausted or refused); operators may retry it."""

    notice_id: str
    user_id: str
    kind: str
    channel: str
    reason: str
    cause_event_id: str | None = None
    attempts: int | None = None


@register(ERASURE_COMPLETED)
class NotificationsErasureCompleted(ErasureCompleted):
    pass

"""Notices: one per (cause event, recipient, channel), stored `queued` in the same
transaction as the handled event (the inbox step), then delivered by the sender loop.

In-app notices are delivered by being stored (status `delivered`); they are rendered when
read, in the reader's current language."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from contracts import notifications as nc
from kit import tracing
from kit.context import correlation_id
from notifications import preferences
from notifications.contacts import contacts_of
from notifications.store import find_by_ids

Db = AsyncDatabase[dict[str, Any]]


class NoticeStatus(StrEnum):
    """A notice's state (stored and answered as its value)."""

    queued = "queued"  # waiting for the sender (email, SMS)
    sending = "sending"  # claimed by a sender, under its lease
    sent = "sent"
    failed = "failed"  # finally: an operator may retry it
    delivered = "delivered"  # in-app: delivered by being stored


QUEUED, SENDING, SENT, FAILED, DELIVERED = (
    NoticeStatus.queued,
    NoticeStatus.sending,
    NoticeStatus.sent,
    NoticeStatus.failed,
    NoticeStatus.delivered,
)
EXTERNAL = ("email", "sms")


@dataclass
class Recipient:
    user_id: str
    context: dict[str, Any] = field(default_factory=dict)


def log_entry(status: str, reason: str | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": datetime.now(UTC), "status": status, **extra}
    if reason:
        entry["reason"] = reason
    return entry


async def queue(
    db: Db,
    *,
    municipality: str,
    cause_event_id: str,
    cause_type: str,
    kind: str,
    recipients: list[Recipient],
    session: AsyncClientSession | None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Store the notices for `recipients` (one per channel they want for `kind`); returns
    the stored documents. Batch writes: a fan-out to hundreds is one insert."""
    now = now or datetime.now(UTC)
    ids = [r.user_id for r in recipients]
    contacts = await contacts_of(db, ids, session)
    overrides = {p["_id"]: p for p in await find_by_ids(db.preferences, ids, session)}
    docs: list[dict[str, Any]] = []
    seen: set[str] = set()
    # The span the notice was queued in (the message's that caused it, tracing on): its
    # sending and its notice.sent / notice.failed continue that trace.
    parent, state = tracing.current_traceparent()
    trace = {"traceparent": parent, **({"tracestate": state} if state else {})} if parent else {}
    for recipient in recipients:
        if recipient.user_id in seen:
            continue
        seen.add(recipient.user_id)
        contact = contacts.get(recipient.user_id)
        if contact and contact.get("erasing") and kind != "erasure_confirmed":
            continue
        prefs = preferences.effective(contact, overrides.get(recipient.user_id))
        for channel in preferences.channels_for(kind, prefs, contact):
            due = now
            if channel == "sms":
                # Quiet hours hold an SMS until they end (email and in-app do not disturb).
                due = preferences.quiet_until(now, prefs["quiet_hours"], prefs["timezone"]) or now
            status = DELIVERED if channel == "inapp" else QUEUED
            docs.append(
                {
                    "_id": uuid.uuid4().hex,
                    "municipality": municipality,
                    "user_id": recipient.user_id,
                    "kind": kind,
                    "channel": channel,
                    "cause_event_id": cause_event_id,
                    "cause_type": cause_type,
                    "correlation_id": correlation_id.get(),
                    "context": recipient.context,
                    "status": status,
                    "due": due,
                    "attempts": 0,
                    "created": now,
                    "read_at": None,
                    "log": [log_entry(status, held_until=due) if due > now else log_entry(status)],
                    **trace,
                }
            )
    if docs:
        await db.notices.insert_many(docs, session=session)
    return docs


def sent_event(notice: dict[str, Any]) -> nc.NoticeSent:
    return nc.NoticeSent(
        notice_id=notice["_id"],
        user_id=notice["user_id"],
        kind=notice["kind"],
        channel=notice["channel"],
        cause_event_id=notice["cause_event_id"],
        attempts=notice.get("attempts", 0) + (0 if notice["channel"] == "inapp" else 1),
    )


def failed_event(notice: dict[str, Any], reason: str) -> nc.NoticeFailed:
    return nc.NoticeFailed(
        notice_id=notice["_id"],
        user_id=notice["user_id"],
        kind=notice["kind"],
        channel=notice["channel"],
        reason=reason,
        cause_event_id=notice["cause_event_id"],
        attempts=notice.get("attempts", 0) + 1,
    )

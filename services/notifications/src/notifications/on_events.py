"""Who is told what when a registration or an event changes (events service's events).

This service keeps its own list of registrants per event (from the registration events),
since an event's cancellation does not carry them. When the events service also cancels
each registration with `cancelled_by=event_cancelled`, those people are told once, by the
event-cancelled notice, whichever of the two messages comes first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts import events as ec
from kit.consumer import Delivery
from notifications import reminders
from notifications.notices import Recipient
from notifications.notifier import Notifier

ACTIVE = ("confirmed", "waitlisted")
KINDS = {
    ec.REGISTRATION_CONFIRMED: ("registration_confirmed", "confirmed"),
    ec.REGISTRATION_WAITLISTED: ("registration_waitlisted", "waitlisted"),
    ec.REGISTRATION_PROMOTED: ("registration_promoted", "confirmed"),
    ec.REGISTRATION_CANCELLED: ("registration_cancelled", "cancelled"),
}


async def on_registration(n: Notifier, delivery: Delivery[ec.RegistrationFacts]) -> None:
    data = delivery.data
    kind, status = KINDS[delivery.event.type]
    ctx = data.model_dump(mode="json")
    ref = f"registration:{data.registration_id}"
    cancelled_by = data.cancelled_by if isinstance(data, ec.RegistrationCancelled) else None
    await n.db.registrations.update_one(
        {"_id": data.registration_id},
        {
            "$set": {
                "municipality": delivery.event.municipality,
                "event_id": data.event_id,
                "user_id": data.user_id,
                "status": status,
                "cancelled_by": cancelled_by,
                # a waiting-list place never reached a calendar: no CANCEL for it later
                "was_waitlisted": status == "waitlisted"
                or (isinstance(data, ec.RegistrationCancelled) and data.was_waitlisted),
                "updated": datetime.now(UTC),
            }
        },
        upsert=True,
        session=delivery.session,
    )
    if status == "cancelled":
        await reminders.cancel(n.db, [ref], delivery.session)
        if cancelled_by == "event_cancelled":
            return
    elif status == "confirmed":
        await reminders.schedule(
            n.db,
            ref=ref,
            kind="reminder_registration",
            municipality=delivery.event.municipality,
            user_id=data.user_id,
            context=ctx,
            lead=n.lead,
            session=delivery.session,
            event_id=data.event_id,
        )
    await n.tell(delivery, kind, [Recipient(data.user_id, ctx)])


async def _registrants(
    n: Notifier,
    delivery: Delivery[ec.EventCancelled] | Delivery[ec.EventChanged],
    event_id: str,
    *,
    cancelled: bool,
) -> list[str]:
    query: dict[str, Any] = {"event_id": event_id, "status": {"$in": list(ACTIVE)}}
    if cancelled:
        query = {
            "event_id": event_id,
            "$or": [{"status": {"$in": list(ACTIVE)}}, {"cancelled_by": "event_cancelled"}],
        }
    found = await n.db.registrations.find(
        query, projection={"user_id": 1}, session=delivery.session
    ).to_list()
    return list(dict.fromkeys(r["user_id"] for r in found))


async def _calendar_entries(
    n: Notifier, delivery: Delivery[ec.EventCancelled], event_id: str
) -> dict[str, list[dict[str, str]]]:
    """Each registrant's registrations that were in their calendar (confirmed, not a
    waiting-list place): the event's cancellation takes them out (METHOD:CANCEL)."""
    found = await n.db.registrations.find(
        {
            "event_id": event_id,
            "$or": [{"status": "confirmed"}, {"cancelled_by": "event_cancelled"}],
            "was_waitlisted": {"$ne": True},
        },
        projection={"user_id": 1},
        session=delivery.session,
    ).to_list()
    entries: dict[str, list[dict[str, str]]] = {}
    for reg in found:
        entries.setdefault(reg["user_id"], []).append({"registration_id": reg["_id"]})
    return entries


async def on_event_cancelled(n: Notifier, delivery: Delivery[ec.EventCancelled]) -> None:
    data = delivery.data
    users = await _registrants(n, delivery, data.event_id, cancelled=True)
    entries = await _calendar_entries(n, delivery, data.event_id)
    await n.db.reminders.update_many(
        {"event_id": data.event_id, "status": reminders.SCHEDULED},
        {"$set": {"status": reminders.CANCELLED, "cancelled_at": datetime.now(UTC)}},
        session=delivery.session,
    )
    await n.db.registrations.update_many(
        {"event_id": data.event_id, "status": {"$in": list(ACTIVE)}},
        {"$set": {"status": "cancelled", "cancelled_by": "event_cancelled"}},
        session=delivery.session,
    )
    ctx = data.model_dump(mode="json")
    await n.tell(
        delivery,
        "event_cancelled",
        [Recipient(u, {**ctx, "registrations": entries.get(u, [])}) for u in users],
    )


async def on_event_changed(n: Notifier, delivery: Delivery[ec.EventChanged]) -> None:
    data = delivery.data
    users = await _registrants(n, delivery, data.event_id, cancelled=False)
    ctx = data.model_dump(mode="json")
    moved = {"starts_at", "ends_at", "venue_id", "venue_name", "title"}
    changes = {k: ctx[k] for k in ("title", "venue_name", "starts_at", "ends_at", "timezone")}
    if not data.changed_fields or moved.intersection(data.changed_fields):
        await reminders.reschedule_event(
            n.db, event_id=data.event_id, changes=changes, lead=n.lead, session=delivery.session
        )
    await n.tell(delivery, "event_changed", [Recipient(u, ctx) for u in users])

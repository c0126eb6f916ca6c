"""Who is told what when a booking changes (bookings service's events)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from contracts import bookings as bc
from kit.consumer import Delivery
from notifications import reminders
from notifications.contacts import staff_of
from notifications.notices import Recipient
from notifications.notifier import Notifier

# Cancellations told by a notice of their own cause (resource blocked, hours closed).
TOLD_ELSEWHERE = {"resource_blocked", "mentor_hours_closed"}


def _context(data: bc.BookingFacts) -> dict[str, Any]:
    return data.model_dump(mode="json")


async def _remember(
    n: Notifier, delivery: Delivery[bc.BookingFacts], data: bc.BookingFacts, status: str
) -> None:
    await n.db.bookings.update_one(
        {"_id": data.booking_id},
        {
            "$set": {
                "municipality": delivery.event.municipality,
                "user_id": data.user_id,
                "status": status,
                "context": _context(data),
                "updated": datetime.now(UTC),
            }
        },
        upsert=True,
        session=delivery.session,
    )


async def _settle_approval(
    n: Notifier, session: AsyncClientSession | None, booking_id: str
) -> None:
    await n.db.approvals.delete_one({"_id": booking_id}, session=session)


async def on_booking(n: Notifier, delivery: Delivery[bc.BookingFacts]) -> None:
    data = delivery.data
    type_ = delivery.event.type
    ctx = _context(data)
    me = [Recipient(data.user_id, ctx)]
    ref = f"booking:{data.booking_id}"
    if type_ == bc.BOOKING_PENDING:
        await _remember(n, delivery, data, "pending")
        await n.db.approvals.update_one(
            {"_id": data.booking_id},
            {
                "$set": {
                    "municipality": delivery.event.municipality,
                    "resource_name": data.resource_name,
                    "starts_at": ctx["starts_at"],
                }
            },
            upsert=True,
            session=delivery.session,
        )
        await n.tell(delivery, "booking_pending", me)
        staff = await staff_of(n.db, delivery.event.municipality, delivery.session)
        await n.tell(
            delivery, "approval_requested", [Recipient(u, ctx) for u in staff], second=True
        )
    elif type_ == bc.BOOKING_CONFIRMED:
        await _remember(n, delivery, data, "confirmed")
        await _settle_approval(n, delivery.session, data.booking_id)
        await n.tell(delivery, "booking_confirmed", me)
        await reminders.schedule(
            n.db,
            ref=ref,
            kind="reminder_booking",
            municipality=delivery.event.municipality,
            user_id=data.user_id,
            context=ctx,
            lead=n.lead,
            session=delivery.session,
        )
    elif type_ == bc.BOOKING_DENIED:
        await _remember(n, delivery, data, "denied")
        await _settle_approval(n, delivery.session, data.booking_id)
        await reminders.cancel(n.db, [ref], delivery.session)
        await n.tell(delivery, "booking_denied", me)
    elif type_ == bc.BOOKING_CANCELLED:
        known = await n.db.bookings.find_one({"_id": data.booking_id}, session=delivery.session)
        await _remember(n, delivery, data, "cancelled")
        await _settle_approval(n, delivery.session, data.booking_id)
        await reminders.cancel(n.db, [ref], delivery.session)
        told = bool(known and known.get("cancel_told"))
        cancelled_by = data.cancelled_by if isinstance(data, bc.BookingCancelled) else None
        if cancelled_by not in TOLD_ELSEWHERE and not told:
            await n.tell(delivery, "booking_cancelled", me)
            await _mark_told(n, delivery.session, [data.booking_id])


async def _mark_told(
    n: Notifier, session: AsyncClientSession | None, booking_ids: list[str]
) -> None:
    # Closing mentor hours cancels bookings with cancelled_by=staff beside its own event:
    # whichever message comes first tells the booker, the other one stays quiet.
    await n.db.bookings.update_many(
        {"_id": {"$in": booking_ids}}, {"$set": {"cancel_told": True}}, session=session
    )


async def on_closure(
    n: Notifier, delivery: Delivery[bc.ResourceBlocked] | Delivery[bc.MentorHoursClosed]
) -> None:
    """Resource blocked or mentor hours closed: tell the owner of every cancelled booking
    (known from this service's own copy of bookings), once per owner."""
    data = delivery.data
    ids = list(data.cancelled_booking_ids)
    await reminders.cancel(n.db, [f"booking:{b}" for b in ids], delivery.session)
    found = await n.db.bookings.find(
        {"_id": {"$in": ids}, "cancel_told": {"$ne": True}}, session=delivery.session
    ).to_list()
    await _mark_told(n, delivery.session, ids)
    by_user: dict[str, list[dict[str, Any]]] = {}
    for booking in found:
        by_user.setdefault(booking["user_id"], []).append(booking["context"])
    if delivery.event.type == bc.RESOURCE_BLOCKED:
        ctx = data.model_dump(mode="json")
        # each owner's cancelled bookings: their calendar entries get a METHOD:CANCEL
        await n.tell(
            delivery,
            "resource_blocked",
            [Recipient(u, {**ctx, "bookings": b}) for u, b in by_user.items()],
        )
    else:
        await n.tell(
            delivery,
            "mentor_hours_closed",
            [Recipient(u, {"reason": data.reason, "bookings": b}) for u, b in by_user.items()],
        )

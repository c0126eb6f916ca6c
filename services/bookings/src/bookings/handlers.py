"""What bookings does with identity's events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bookings import registrations
from bookings.booking import transition
from bookings.calendar import claim
from bookings.facts import resource_changed
from contracts import bookings as ev
from contracts import events as ec
from contracts import identity as idc
from contracts.bookings import BookingStatus
from kit.app import Service
from kit.conditional import REVISION, bump
from kit.consumer import Delivery

ERASED = "erased"


def register_handlers(svc: Service) -> None:
    # By the person: their bookings of another municipality's rooms (a Kouvola resident
    # booking a Helsinki room opened to them) are theirs too, whatever the resource's
    # municipality, also when that room is on another site: network-wide. Only the site
    # serving the person's municipality answers identity (docs/operations.md, "Erasure
    # across sites"), so an empty answer from elsewhere never completes an erasure early.
    @svc.consumer("identity-users", [idc.USER_ERASED], network=True)
    async def on_user_erased(delivery: Delivery[idc.UserErased]) -> None:
        """Anonymise an erased user's bookings and series; drop their feed and what the
        feed knew of their event registrations."""
        data = delivery.data
        assert delivery.uow is not None  # consumed through the inbox
        session = delivery.session
        municipality = delivery.event.municipality
        db = svc.store.db
        who = {"user_id": data.user_id}
        await svc.outbox.forget(session, data.user_id)  # events nobody could receive
        bookings = await db.bookings.update_many(
            who,
            {
                "$set": {
                    "user_id": ERASED,
                    "purpose": None,
                    "booked_by": ERASED,
                    "access_code": None,
                    "checkin_pass": None,
                    "erased_at": datetime.now(UTC),
                },
                "$inc": {REVISION: 1},
            },
            session=session,
        )
        series = await db.series.update_many(
            who,
            bump({"$set": {"user_id": ERASED, "booked_by": ERASED}}),
            session=session,
        )
        feeds = await db.feeds.delete_many({"user_id": data.user_id}, session=session)
        entries = await db[registrations.COLLECTION].delete_many(who, session=session)
        count = (
            bookings.modified_count
            + series.modified_count
            + feeds.deleted_count
            + entries.deleted_count
        )
        if not svc.settings.serves(municipality):
            return
        await delivery.uow.emit(
            svc.event(
                ev.ERASURE_COMPLETED,
                ev.BookingsErasureCompleted(user_id=data.user_id, records_erased=count),
                municipality=municipality,
                subject=f"user/{data.user_id}",
            ),
        )

    @svc.consumer(
        "events-registrations",
        registrations.TYPES,
        description="Event registrations for the personal calendar feed",
    )
    async def on_registration(delivery: Delivery[ec.RegistrationFacts | ec.EventChanged]) -> None:
        data = delivery.data
        if isinstance(data, ec.EventChanged):
            await registrations.on_event_changed(svc.store.db, delivery.session, data)
        else:
            await registrations.on_registration(
                svc.store.db,
                delivery.session,
                delivery.event.type,
                delivery.event.municipality,
                data,
            )

    @svc.consumer("identity-mentors", [idc.MENTOR_OFFER_CHANGED])
    async def on_mentor_offer(delivery: Delivery[idc.MentorOfferChanged]) -> None:
        """A withdrawn offer closes the mentor's office hours and cancels future bookings."""
        data = delivery.data
        if data.active:
            return
        await close_mentor_hours(svc, delivery.session, data.user_id, delivery.event.municipality)


async def close_mentor_hours(svc: Service, session: Any, mentor: str, municipality: str) -> int:
    db = svc.store.db
    now = datetime.now(UTC)
    reason = "mentor_offer_withdrawn"
    closed = 0
    resources = await db.resources.find(
        {
            "mentor_user_id": mentor,
            "municipality": municipality,
            "kind": "mentor_hours",
            "active": True,
        },
        session=session,
    ).to_list()
    for resource in resources:
        await claim(svc.store, session, resource["_id"])  # no booking slips in meanwhile
        await db.calendars.update_one(
            {"_id": resource["_id"]},
            {"$set": {"active": False}, "$inc": {"rules_version": 1}},
            session=session,
        )
        await db.resources.update_one(
            {"_id": resource["_id"]},
            bump({"$set": {"active": False, "updated_at": now}}),
            session=session,
        )
        future = await db.bookings.find(
            {
                "resource_id": resource["_id"],
                "kind": "booking",
                "status": {"$in": [BookingStatus.pending, BookingStatus.confirmed]},
                "starts_at": {"$gt": now},
            },
            session=session,
        ).to_list()
        cancelled = []
        for booking in future:
            done = await transition(
                svc,
                session,
                booking,
                allowed_from=[BookingStatus.pending, BookingStatus.confirmed],
                status=BookingStatus.cancelled,
                changes={"cancelled_by": "staff", "reason": reason, "cancelled_at": now},
            )
            if done:
                cancelled.append(booking["_id"])
        subject = f"resource/{resource['_id']}"
        await svc.emit(
            session,
            svc.event(
                ev.MENTOR_HOURS_CLOSED,
                ev.MentorHoursClosed(
                    resource_id=resource["_id"],
                    mentor_user_id=mentor,
                    reason=reason,
                    cancelled_booking_ids=cancelled,
                ),
                municipality=municipality,
                subject=subject,
            ),
            svc.event(
                ev.RESOURCE_CHANGED,
                resource_changed({**resource, "active": False}),
                municipality=municipality,
                subject=subject,
            ),
        )
        closed += 1
    return closed

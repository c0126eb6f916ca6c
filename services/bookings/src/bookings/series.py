"""Recurring series: "every Tuesday 10-12 for eight weeks". Each occurrence is booked on
its own (same rules, same no-double-booking claim); the answer and the series.created
event report which occurrences were booked and which conflicted or were refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from bookings.booking import BookingIn, is_staff_of, place_booking, transition
from bookings.errors import AgeLimit, BookingsError, Forbidden, NotFound
from bookings.location import load_location, zone_of
from bookings.resource import load_resource, rules_of
from bookings.status import SeriesStatus
from contracts import bookings as ev
from contracts.bookings import BookingStatus
from kit.app import Service
from kit.auth import Principal
from kit.conditional import bump
from kit.dates import Moment
from kit.requests import Strict
from kit.uow import Busy as StoreBusy


class SeriesIn(Strict):
    """The first occurrence's local times (naive: the location's zone), repeated."""

    resource_id: str = Field(min_length=1)
    starts_at: Moment
    ends_at: Moment
    every_weeks: int = Field(1, ge=1, le=4)
    count: int = Field(ge=2, le=52)
    people: int = Field(1, ge=1, le=1000)
    purpose: str | None = Field(None, max_length=500)
    user_id: str | None = Field(None, min_length=1, max_length=200)


async def create_series(svc: Service, *, principal: Principal, data: SeriesIn) -> dict[str, Any]:
    resource = await load_resource(svc, data.resource_id, principal)
    location = await load_location(svc, resource["location_id"])
    zone = zone_of(location)
    # Repeat in local wall-clock time, so 10:00 stays 10:00 across a DST change.
    first_start = data.starts_at.astimezone(zone) if data.starts_at.tzinfo else data.starts_at
    first_end = data.ends_at.astimezone(zone) if data.ends_at.tzinfo else data.ends_at
    series_id = f"ser-{uuid.uuid4().hex[:16]}"
    occurrences: list[dict[str, Any]] = []
    for i in range(data.count):
        shift = timedelta(weeks=i * data.every_weeks)
        start = (first_start.replace(tzinfo=None) + shift).replace(tzinfo=zone)
        end = (first_end.replace(tzinfo=None) + shift).replace(tzinfo=zone)
        item: dict[str, Any] = {"starts_at": start.astimezone(UTC), "ends_at": end.astimezone(UTC)}
        try:
            booking = await place_booking(
                svc,
                principal=principal,
                series_id=series_id,
                data=BookingIn(
                    resource_id=data.resource_id,
                    starts_at=start,
                    ends_at=end,
                    people=data.people,
                    purpose=data.purpose,
                    user_id=data.user_id,
                ),
            )
            item.update(booking_id=booking["_id"], outcome=booking["status"])
        except (Forbidden, AgeLimit):
            raise  # the series is not the caller's to book: refused whole
        except BookingsError as error:
            item.update(outcome="conflict" if error.clashes else "refused", reason=error.detail)
        except StoreBusy as busy:  # conflicting writers for every attempt: this one only
            item.update(outcome="refused", reason=busy.detail)
        occurrences.append(item)
    user_id = data.user_id or principal.subject
    doc = {
        "_id": series_id,
        "municipality": resource["municipality"],
        "resource_id": resource["_id"],
        "location_id": location["_id"],
        "user_id": user_id,
        "booked_by": principal.subject,
        "every_weeks": data.every_weeks,
        "count": data.count,
        "occurrences": occurrences,
        "status": SeriesStatus.ACTIVE,
        "created_at": datetime.now(UTC),
    }
    payload = ev.SeriesCreated(
        series_id=series_id,
        resource_id=resource["_id"],
        resource_name=resource["name"],
        location_id=location["_id"],
        user_id=user_id,
        timezone=location["timezone"],
        occurrences=[ev.SeriesOccurrence(**o) for o in occurrences],
    )
    async with svc.uow() as uow:
        await svc.store.db.series.insert_one(doc, session=uow.session)
        await uow.emit(
            svc.event(
                ev.SERIES_CREATED,
                payload,
                municipality=doc["municipality"],
                subject=f"series/{series_id}",
            ),
        )
    return doc


async def load_series(svc: Service, series_id: str, principal: Principal) -> dict[str, Any]:
    doc = await svc.store.db.series.find_one({"_id": series_id})
    if doc is None:
        raise NotFound(f"No series {series_id}.", field="series_id")
    if doc["user_id"] != principal.subject and not is_staff_of(principal, doc["municipality"]):
        raise Forbidden("Not your series.")
    return doc


async def cancel_series(
    svc: Service, *, series: dict[str, Any], principal: Principal, reason: str | None
) -> dict[str, Any]:
    """Cancel every occurrence that has not started yet, and the series. A user cannot
    cancel occurrences already inside the resource's cancellation deadline (staff can)."""
    now = datetime.now(UTC)
    staff = is_staff_of(principal, series["municipality"])
    by = "staff" if staff and series["user_id"] != principal.subject else "user"
    cutoff = now
    if not staff:
        resource = await svc.store.db.resources.find_one({"_id": series["resource_id"]})
        cutoff = now + timedelta(minutes=rules_of(resource or {}).cancel_deadline_minutes)
    cancelled: list[str] = []
    async with svc.uow() as uow:
        future = await svc.store.db.bookings.find(
            {
                "series_id": series["_id"],
                "status": {"$in": [BookingStatus.pending, BookingStatus.confirmed]},
                "starts_at": {"$gt": cutoff},
            },
            session=uow.session,
        ).to_list()
        for booking in future:
            done = await transition(
                svc,
                uow.session,
                booking,
                allowed_from=[BookingStatus.pending, BookingStatus.confirmed],
                status=BookingStatus.cancelled,
                changes={"cancelled_by": by, "reason": reason, "cancelled_at": now},
            )
            if done:
                cancelled.append(booking["_id"])
        await svc.store.db.series.update_one(
            {"_id": series["_id"]},
            bump({"$set": {"status": SeriesStatus.CANCELLED, "cancelled_at": now}}),
            session=uow.session,
        )
        payload = ev.SeriesCancelled(
            series_id=series["_id"],
            resource_id=series["resource_id"],
            user_id=series["user_id"],
            cancelled_by=by,
            reason=reason,
            cancelled_booking_ids=cancelled,
        )
        await uow.emit(
            svc.event(
                ev.SERIES_CANCELLED,
                payload,
                municipality=series["municipality"],
                subject=f"series/{series['_id']}",
            ),
        )
    return {"series_id": series["_id"], "cancelled_booking_ids": cancelled}


def series_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "resource_id": doc["resource_id"],
        "user_id": doc["user_id"],
        "status": doc["status"],
        "occurrences": [
            {**o, "starts_at": o["starts_at"].isoformat(), "ends_at": o["ends_at"].isoformat()}
            for o in doc["occurrences"]
        ],
    }

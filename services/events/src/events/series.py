"""Recurring series (a weekly course, a monthly meetup): occurrences are ordinary events
sharing a `series_id`, created, published and cancelled as a whole or one at a time.

Occurrences repeat on the wall clock of the municipality's time zone, so a course at
18:00 stays at 18:00 across a daylight-saving change (its UTC time moves)."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any, Literal

from dateutil import rrule
from pydantic import Field, model_validator

from contracts import events as ev
from events import clock, event, registration, store
from events.errors import conflict, invalid, not_found
from events.settings import EventsSettings
from events.status import EventStatus, SeriesStatus
from kit.app import Service
from kit.conditional import bump
from kit.dates import Day
from kit.requests import Strict
from kit.uow import UnitOfWork

MAX_OCCURRENCES = 104
WEEKDAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)


class Recurrence(Strict):
    frequency: Literal["weekly", "monthly"]
    interval: int = Field(default=1, ge=1, le=12)
    count: int | None = Field(default=None, ge=1, le=MAX_OCCURRENCES)
    until: Day | None = None
    # monthly only: "day" repeats the date (the 14th), "weekday" the weekday (2nd Tuesday)
    monthly_by: Literal["day", "weekday"] = "day"

    @model_validator(mode="after")
    def _bounded(self) -> Recurrence:
        if (self.count is None) == (self.until is None):
            raise invalid("recurrence.count", "Give either count or until.")
        return self


class SeriesIn(Strict):
    template: event.EventIn
    recurrence: Recurrence


def occurrences(first_local: datetime, rule: Recurrence) -> list[datetime]:
    """Wall-clock start times (naive, local) of every occurrence, the first included."""
    kwargs: dict[str, Any] = {"dtstart": first_local, "interval": rule.interval}
    if rule.count is not None:
        kwargs["count"] = rule.count
    elif rule.until is not None:  # one of the two (Recurrence checks)
        kwargs["until"] = datetime.combine(rule.until, time.max)
    if rule.frequency == "weekly":
        found = list(rrule.rrule(rrule.WEEKLY, **kwargs))
    elif rule.monthly_by == "weekday":
        nth = (first_local.day - 1) // 7 + 1
        weekday = WEEKDAYS[first_local.weekday()](nth)
        found = list(rrule.rrule(rrule.MONTHLY, byweekday=weekday, **kwargs))
    else:
        found = list(rrule.rrule(rrule.MONTHLY, bymonthday=first_local.day, **kwargs))
    if len(found) > MAX_OCCURRENCES:
        raise invalid("recurrence.until", f"At most {MAX_OCCURRENCES} occurrences.")
    return found


async def create(
    svc: Service[EventsSettings],
    *,
    data: SeriesIn,
    municipality: str,
    created_by: str,
    organiser_kind: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tz = svc.settings.timezone_of(municipality)
    template = data.template
    start_local = clock.local(clock.to_utc(template.starts_at, tz), tz)
    end_local = clock.local(clock.to_utc(template.ends_at, tz), tz)
    assert start_local is not None and end_local is not None
    if end_local <= start_local:
        raise invalid("template.ends_at", "The event must end after it starts.")
    duration = end_local.replace(tzinfo=None) - start_local.replace(tzinfo=None)
    series_id = f"ser-{uuid.uuid4().hex[:12]}"
    docs = []
    for n, starts in enumerate(occurrences(start_local.replace(tzinfo=None), data.recurrence)):
        one = template.model_copy(update={"starts_at": starts, "ends_at": starts + duration})
        doc = await event.new_document(
            svc,
            data=one,
            municipality=municipality,
            created_by=created_by,
            organiser_kind=organiser_kind,
            series_id=series_id,
        )
        doc["occurrence"] = n + 1
        docs.append(doc)
    series = {
        "_id": series_id,
        "municipality": municipality,
        "title": template.title,
        "recurrence": data.recurrence.model_dump(mode="json"),
        "created_by": created_by,
        "status": SeriesStatus.ACTIVE,
        "created_at": clock.now(),
    }
    async with svc.uow() as uow:
        await svc.store.db[store.SERIES].insert_one(series, session=uow.session)
        await svc.store.db[store.EVENTS].insert_many(docs, session=uow.session)
    return series, docs


async def get(svc: Service[EventsSettings], series_id: str) -> dict[str, Any]:
    doc = await svc.store.db[store.SERIES].find_one({"_id": series_id})
    if doc is None:
        raise not_found("series", series_id)
    return doc


async def members(svc: Service[EventsSettings], series_id: str) -> list[dict[str, Any]]:
    return (
        await svc.store.db[store.EVENTS]
        .find({"series_id": series_id}, sort=[("starts_at", 1)])
        .to_list(None)
    )


async def publish(svc: Service[EventsSettings], *, series: dict[str, Any]) -> int:
    """Publish every draft occurrence that has not yet ended."""
    now = clock.now()
    drafts = [
        d
        for d in await members(svc, series["_id"])
        if d["status"] == EventStatus.DRAFT and d["ends_at"] > now
    ]
    if not drafts:
        raise conflict("No draft occurrences to publish.", field="status")

    async def work(uow: UnitOfWork) -> int:
        session = uow.session
        for doc in drafts:
            await event._set_status(svc, session, doc, EventStatus.PUBLISHED)
            await uow.emit(event._envelope(svc, doc, ev.EVENT_PUBLISHED, event.facts(doc)))
        return len(drafts)

    count = await svc.uow.run(work)
    await event.committed(svc, *(d["_id"] for d in drafts))
    return count


async def cancel(
    svc: Service[EventsSettings], *, series: dict[str, Any], reason: str | None
) -> int:
    """Cancel the series: every occurrence not yet started, with its registrations."""
    now = clock.now()
    open_ = [
        d
        for d in await members(svc, series["_id"])
        if d["status"] in (EventStatus.DRAFT, EventStatus.PUBLISHED) and d["starts_at"] > now
    ]

    async def work(uow: UnitOfWork) -> int:
        session = uow.session
        for doc in open_:
            updated = await event._set_status(
                svc, session, doc, EventStatus.CANCELLED, cancel_reason=reason
            )
            if doc["status"] == EventStatus.PUBLISHED:
                payload = ev.EventCancelled(
                    event_id=doc["_id"],
                    title=doc["title"],
                    starts_at=doc["starts_at"],
                    reason=reason,
                )
                await uow.emit(event._envelope(svc, doc, ev.EVENT_CANCELLED, payload))
                await registration.cancel_all(svc, session, updated, reason=reason)
        await svc.store.db[store.SERIES].update_one(
            {"_id": series["_id"]},
            bump({"$set": {"status": SeriesStatus.CANCELLED}}),
            session=session,
        )
        return len(open_)

    count = await svc.uow.run(work)
    await event.committed(svc, *(d["_id"] for d in open_))
    return count

"""Feedback after an event: a rating (1-5) and an optional comment, once per registration."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from contracts import events as ev
from events import clock, store
from events.errors import conflict
from events.settings import EventsSettings
from events.status import EventStatus, RegistrationStatus
from kit.app import Service
from kit.conditional import bump
from kit.requests import Strict


class FeedbackIn(Strict):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


async def give(
    svc: Service[EventsSettings], *, event: dict[str, Any], reg: dict[str, Any], data: FeedbackIn
) -> dict[str, Any]:
    if reg["status"] != RegistrationStatus.CONFIRMED:
        raise conflict("Only participants give feedback.", field="registration")
    if (
        event["status"] not in (EventStatus.PUBLISHED, EventStatus.COMPLETED)
        or event["starts_at"] > clock.now()
    ):
        raise conflict("Feedback opens when the event has started.", field="event_id")
    now = clock.now()
    feedback = {"rating": data.rating, "comment": data.comment or None, "given_at": now}
    payload = ev.FeedbackGiven(
        event_id=event["_id"],
        registration_id=reg["_id"],
        user_id=reg["user_id"],
        kind=event["kind"],
        rating=data.rating,
        has_comment=bool(data.comment),
        given_at=now,
    )
    envelope = svc.event(
        ev.FEEDBACK_GIVEN,
        payload,
        municipality=event["municipality"],
        subject=f"event/{event['_id']}",
    )
    async with svc.uow() as uow:
        # Conditional: a second submission (even a concurrent one) is refused.
        updated = await svc.store.db[store.REGISTRATIONS].find_one_and_update(
            {"_id": reg["_id"], "feedback": None},
            bump({"$set": {"feedback": feedback}}),
            session=uow.session,
            return_document=True,
        )
        if updated is None:
            raise conflict("Feedback was already given.", field="rating", kind="duplicate")
        await uow.emit(envelope)
    return feedback


async def summary(svc: Service[EventsSettings], event_id: str) -> dict[str, Any]:
    given = (
        await svc.store.db[store.REGISTRATIONS]
        .find({"event_id": event_id, "feedback": {"$ne": None}}, projection={"feedback": 1})
        .to_list(None)
    )
    ratings = [g["feedback"]["rating"] for g in given]
    return {
        "count": len(ratings),
        "average": round(sum(ratings) / len(ratings), 2) if ratings else None,
        "histogram": {str(r): ratings.count(r) for r in range(1, 6)},
        "comments": [g["feedback"]["comment"] for g in given if g["feedback"].get("comment")],
    }

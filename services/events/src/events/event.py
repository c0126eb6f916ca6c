"""Events: what they are, how they are validated, and their workflow
(draft -> published -> cancelled | completed)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from contracts import events as ev
from contracts.common import Audience, SkillLevel
from events import clock, registration, store
from events.errors import conflict, invalid, not_found
from events.parts import Parts
from events.settings import EventsSettings
from events.status import EventStatus, RegistrationStatus
from kit.app import Service
from kit.conditional import REVISION, Precondition, stale
from kit.dates import Moment
from kit.patch import Patch
from kit.requests import LANGUAGES_MAX, LocalizedLongText, LocalizedName, Strict
from kit.uow import UnitOfWork

OrganiserKind = Literal["staff", "partner", "mentor"]


class Organiser(Strict):
    kind: OrganiserKind = "staff"
    name: str = Field(default="", max_length=200)
    organisation_id: str | None = None


class Topic(Strict):
    """A topic of the event: contracts.common.Skill as a request takes it (strict)."""

    skill: str = Field(min_length=1, max_length=80, description="Skill or topic, lower case")
    level: SkillLevel | None = None


class Price(Strict):
    free: bool = True
    amount: float | None = Field(default=None, ge=0)
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    info: LocalizedName = Field(default_factory=dict)


def _language_codes(value: list[str]) -> list[str]:
    for code in value:
        if not (2 <= len(code) <= 8 and code.replace("-", "").isalpha()):
            raise ValueError(f"not a language code: {code!r}")
    return value


class EventFields(Strict):
    """Fields shared by create and patch (all optional here)."""

    description: LocalizedLongText | None = None
    languages: list[str] | None = Field(default=None, max_length=LANGUAGES_MAX)
    audiences: list[Audience] | None = Field(default=None, max_length=len(Audience))
    topics: list[Topic] | None = Field(default=None, max_length=30)
    organiser: Organiser | None = None
    venue_id: str | None = None
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    max_group_size: int | None = Field(default=None, ge=1, le=100)
    registration_required: bool | None = None
    registration_opens_at: Moment | None = None
    registration_closes_at: Moment | None = None
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)
    price: Price | None = None
    info_url: str | None = Field(default=None, max_length=500)

    _languages = field_validator("languages")(lambda v: _language_codes(v) if v is not None else v)


class EventIn(EventFields):
    kind: ev.EventKind
    title: LocalizedName = Field(min_length=1)
    starts_at: Moment
    ends_at: Moment
    parent_event_id: str | None = None


class EventPatch(EventFields, Patch):
    # What an event may be without (DEFAULTS has None for them); null elsewhere is a 422.
    nullable = frozenset(
        {
            "venue_id",
            "capacity",
            "registration_opens_at",
            "registration_closes_at",
            "min_age",
            "max_age",
            "info_url",
        }
    )

    kind: ev.EventKind | None = None
    title: LocalizedName | None = None
    starts_at: Moment | None = None
    ends_at: Moment | None = None


DEFAULTS: dict[str, Any] = {
    "description": {},
    "languages": ["fi"],
    "audiences": [],
    "topics": [],
    "organiser": {"kind": "staff", "name": "", "organisation_id": None},
    "venue_id": None,
    "capacity": None,
    "max_group_size": 10,
    "registration_required": True,
    "registration_opens_at": None,
    "registration_closes_at": None,
    "min_age": None,
    "max_age": None,
    "price": {"free": True, "amount": None, "currency": "EUR", "info": {}},
    "info_url": None,
}
TIMES = ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")


def check_rules(doc: dict[str, Any]) -> None:
    """Rules across fields, each failure naming the field to fix."""
    if doc["ends_at"] <= doc["starts_at"]:
        raise invalid("ends_at", "The event must end after it starts.")
    opens, closes = doc.get("registration_opens_at"), doc.get("registration_closes_at")
    if opens and closes and closes <= opens:
        raise invalid("registration_closes_at", "Registration must close after it opens.")
    if closes and closes > doc["ends_at"]:
        raise invalid("registration_closes_at", "Registration cannot close after the event.")
    if doc.get("min_age") is not None and doc.get("max_age") is not None:
        if doc["max_age"] < doc["min_age"]:
            raise invalid("max_age", "The maximum age is below the minimum age.")
    price = doc.get("price") or {}
    if not price.get("free", True) and price.get("amount") is None:
        raise invalid("price.amount", "A priced event needs an amount.")
    if not doc["title"]:
        raise invalid("title", "An event needs a title.")


def normalise(doc: dict[str, Any]) -> None:
    # Topics are matched exactly in search: keep them lower case and trimmed.
    doc["topics"] = [
        {**t, "skill": " ".join(t["skill"].lower().split())} for t in doc.get("topics") or []
    ]
    doc["search_text"] = search_text(doc)


def search_text(doc: dict[str, Any]) -> str:
    parts = [*doc["title"].values(), *doc.get("description", {}).values()]
    parts += [t["skill"] for t in doc.get("topics", [])]
    parts.append(doc.get("organiser", {}).get("name", ""))
    return " ".join(parts).lower()


async def _venue_snapshot(
    svc: Service[EventsSettings], venue_id: str | None, municipality: str
) -> dict[str, Any]:
    venue = None
    if venue_id is not None:
        venue = await svc.store.db[store.VENUES].find_one({"_id": venue_id})
    return place(venue_id, venue, municipality)


def place(venue_id: str | None, venue: dict[str, Any] | None, municipality: str) -> dict[str, Any]:
    """An event's copy of its venue's kind and name (`venue` as read for `venue_id`)."""
    if venue_id is None:
        return {"venue_kind": None, "venue_name": {}}
    if venue is None or venue["municipality"] != municipality:
        raise invalid("venue_id", f"No venue {venue_id!r} in {municipality}.")
    return {"venue_kind": venue["kind"], "venue_name": venue["name"]}


def check_parent(parent_id: str, parent: dict[str, Any] | None, municipality: str) -> None:
    """A sub-event's parent (`parent` as read for `parent_id`): an event here, itself no
    sub-event."""
    if parent is None or parent["municipality"] != municipality:
        raise invalid("parent_event_id", f"No event {parent_id!r} here.")
    if parent.get("parent_event_id"):
        raise invalid("parent_event_id", "Sub-events cannot have sub-events.")


def draft(
    values: dict[str, Any],
    *,
    municipality: str,
    tz: str,
    venue: dict[str, Any],
    created_by: str,
    now: datetime,
    series_id: str | None = None,
) -> dict[str, Any]:
    """A new draft's document from its given `values` and `venue` (`place`): nothing taken
    or waiting yet, revision 1, every rule checked."""
    doc = {
        "_id": new_id(),
        "municipality": municipality,
        "timezone": tz,
        "status": EventStatus.DRAFT.value,
        **values,
        **venue,
        "series_id": series_id,
        "seats_taken": 0,
        "waiting": 0,
        "revision": 1,
        "waitlist_seq": 0,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
    }
    check_rules(doc)
    normalise(doc)
    return doc


def times(data: BaseModel, tz: str) -> dict[str, Any]:
    """The given times in UTC (naive input is wall-clock time in the event's zone)."""
    given = data.model_dump(exclude_unset=True)
    return {
        k: (clock.to_utc(given[k], tz) if given[k] is not None else None)
        for k in TIMES
        if k in given
    }


def new_id() -> str:
    return f"evt-{uuid.uuid4().hex[:12]}"


async def get(svc: Service[EventsSettings], event_id: str) -> dict[str, Any]:
    doc = await svc.store.db[store.EVENTS].find_one({"_id": event_id})
    if doc is None:
        raise not_found("event", event_id)
    return doc


async def new_document(
    svc: Service[EventsSettings],
    *,
    data: EventIn,
    municipality: str,
    created_by: str,
    organiser_kind: str,
    series_id: str | None = None,
) -> dict[str, Any]:
    """Build (not store) a draft from its input, applying defaults and every rule."""
    tz = svc.settings.timezone_of(municipality)
    values = {**DEFAULTS, **data.model_dump(mode="json", exclude_none=True)}
    values.update(times(data, tz))
    values["organiser"] = {**values["organiser"], "kind": organiser_kind}
    if data.parent_event_id:
        parent = await svc.store.db[store.EVENTS].find_one({"_id": data.parent_event_id})
        check_parent(data.parent_event_id, parent, municipality)
    return draft(
        values,
        municipality=municipality,
        tz=tz,
        venue=await _venue_snapshot(svc, values["venue_id"], municipality),
        created_by=created_by,
        now=clock.now(),
        series_id=series_id,
    )


async def create(svc: Service[EventsSettings], **kwargs: Any) -> dict[str, Any]:
    doc = await new_document(svc, **kwargs)
    await svc.store.db[store.EVENTS].insert_one(doc)  # drafts publish nothing
    return doc


def facts(doc: dict[str, Any], model: type[ev.EventFacts] = ev.EventPublished, **extra: Any) -> Any:
    return model(
        event_id=doc["_id"],
        kind=doc["kind"],
        title=doc["title"],
        venue_id=doc.get("venue_id"),
        venue_kind=doc.get("venue_kind"),
        venue_name=doc.get("venue_name") or {},
        starts_at=doc["starts_at"],
        ends_at=doc["ends_at"],
        timezone=doc["timezone"],
        capacity=doc.get("capacity"),
        audiences=doc.get("audiences", []),
        topics=doc.get("topics", []),
        languages=doc.get("languages", []),
        organiser_kind=doc["organiser"]["kind"],
        series_id=doc.get("series_id"),
        parent_event_id=doc.get("parent_event_id"),
        registration_required=doc.get("registration_required", True),
        **extra,
    )


async def update(
    svc: Service[EventsSettings],
    *,
    event: dict[str, Any],
    patch: EventPatch,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Apply `patch`; with `precondition` (If-Match) only to the revision it names, checked
    in the replacement's filter: of two editors with the same ETag one gets 412."""
    precondition = precondition or Precondition(None)
    precondition.check(event)
    if event["status"] in (EventStatus.CANCELLED, EventStatus.COMPLETED):
        raise conflict(f"A {event['status']} event cannot be changed.", field="status")
    # The fields given, each whole: a nested object given as {} gets its defaults (with
    # exclude_unset it was stored empty, and the organiser's kind was missing).
    given = patch.model_dump(mode="json")
    changes = {k: v for k, v in given.items() if k in patch.model_fields_set}
    changes.update(times(patch, event["timezone"]))
    for key in ("kind", "title", "starts_at", "ends_at"):
        if key in changes and changes[key] is None:
            raise invalid(key, f"{key} cannot be removed.")
    if "venue_id" in changes:
        changes |= await _venue_snapshot(svc, changes["venue_id"], event["municipality"])
    if (
        changes.get("capacity") is not None
        and event.get("capacity") != changes["capacity"]
        and changes["capacity"] < event["seats_taken"]
    ):
        raise conflict(
            f"{event['seats_taken']} seats are taken; capacity cannot go below that.",
            field="capacity",
        )
    merged = {**event, **changes, "updated_at": clock.now()}
    check_rules(merged)
    normalise(merged)
    changed = sorted(k for k in changes if event.get(k) != merged.get(k))

    async def work(uow: UnitOfWork) -> dict[str, Any]:
        session = uow.session
        current = await svc.store.db[store.EVENTS].find_one({"_id": event["_id"]}, session=session)
        assert current is not None
        precondition.check(current)
        fresh = {**current, **changes, "updated_at": merged["updated_at"]}
        fresh["revision"] = current.get("revision", 0) + 1
        fresh["search_text"], fresh["topics"] = merged["search_text"], merged["topics"]
        if fresh.get("capacity") is not None and fresh["capacity"] < current["seats_taken"]:
            raise conflict("Seats were taken meanwhile; capacity too low.", field="capacity")
        guard: dict[str, Any] = {"_id": event["_id"]}
        if precondition.given:  # the revision checked is the one replaced, or 412
            guard[REVISION] = current.get(REVISION)
        replaced = await svc.store.db[store.EVENTS].replace_one(guard, fresh, session=session)
        if not replaced.matched_count:
            raise stale(current)
        if event["status"] == EventStatus.PUBLISHED and changed:
            await uow.emit(
                svc.event(
                    ev.EVENT_CHANGED,
                    facts(fresh, ev.EventChanged, changed_fields=changed),
                    municipality=event["municipality"],
                    subject=f"event/{event['_id']}",
                ),
            )
        if event["status"] == EventStatus.PUBLISHED and "capacity" in changed:
            fresh = await registration.promote(svc, session, fresh)
        return fresh

    result = await svc.uow.run(work)
    await committed(svc, event["_id"])
    return result


async def publish(svc: Service[EventsSettings], *, event: dict[str, Any]) -> dict[str, Any]:
    if event["status"] != EventStatus.DRAFT:
        raise conflict(f"Only drafts are published; this one is {event['status']}.", field="status")
    if event["ends_at"] <= clock.now():
        raise conflict("The event is already over.", field="ends_at")
    return await _transition(svc, event, EventStatus.PUBLISHED, ev.EVENT_PUBLISHED, facts(event))


async def complete(svc: Service[EventsSettings], *, event: dict[str, Any]) -> dict[str, Any]:
    if event["status"] != EventStatus.PUBLISHED:
        raise conflict("Only published events are completed.", field="status")
    if event["starts_at"] > clock.now():
        raise conflict("The event has not started yet.", field="starts_at")
    regs = svc.store.db[store.REGISTRATIONS]
    registered = await regs.count_documents(
        {"event_id": event["_id"], "status": RegistrationStatus.CONFIRMED}
    )
    attended = await regs.count_documents({"event_id": event["_id"], "attended": True})
    payload = ev.EventCompleted(
        event_id=event["_id"], kind=event["kind"], attended=attended, registered=registered
    )
    return await _transition(svc, event, EventStatus.COMPLETED, ev.EVENT_COMPLETED, payload)


async def cancel(
    svc: Service[EventsSettings], *, event: dict[str, Any], reason: str | None
) -> dict[str, Any]:
    if event["status"] not in (EventStatus.DRAFT, EventStatus.PUBLISHED):
        raise conflict(f"A {event['status']} event cannot be cancelled.", field="status")

    async def work(uow: UnitOfWork) -> dict[str, Any]:
        session = uow.session
        doc = await _set_status(svc, session, event, EventStatus.CANCELLED, cancel_reason=reason)
        if event["status"] == EventStatus.PUBLISHED:
            payload = ev.EventCancelled(
                event_id=event["_id"],
                title=event["title"],
                starts_at=event["starts_at"],
                reason=reason,
            )
            await uow.emit(_envelope(svc, event, ev.EVENT_CANCELLED, payload))
            await registration.cancel_all(svc, session, doc, reason=reason)
        return doc

    doc = await svc.uow.run(work)
    await committed(svc, event["_id"])
    return doc


async def committed(svc: Service[EventsSettings], *event_ids: str) -> None:
    """After a commit: this replica's catalogue reads the events again at once (the writer
    reads its own write; other replicas follow the events on the bus)."""
    await svc.part(Parts).catalogue.refresh(list(event_ids))


def _envelope(svc: Service[EventsSettings], event: dict[str, Any], type_: str, payload: Any) -> Any:
    return svc.event(
        type_, payload, municipality=event["municipality"], subject=f"event/{event['_id']}"
    )


async def _set_status(
    svc: Service[EventsSettings], session: Any, event: dict[str, Any], status: str, **more: Any
) -> dict[str, Any]:
    now = clock.now()
    result = await store.update_and_read(
        svc,
        session,
        {"_id": event["_id"], "status": event["status"]},  # no double transition
        {"$set": {"status": status, "updated_at": now, f"{status}_at": now, **more}},
        current=event,
    )
    if result is None:
        raise conflict("The event changed meanwhile; reload it.", field="status")
    return result


async def _transition(
    svc: Service[EventsSettings], event: dict[str, Any], status: str, type_: str, payload: Any
) -> dict[str, Any]:
    message = _envelope(svc, event, type_, payload)

    async def work(uow: UnitOfWork) -> dict[str, Any]:
        session = uow.session
        doc = await _set_status(svc, session, event, status)
        await uow.emit(message)
        return doc

    doc = await svc.uow.run(work)
    reads = svc.part(Parts).catalogue
    reads.apply(doc)  # as stored: nothing to read again, nor when its message comes back
    reads.held(message.id)
    return doc


def out(doc: dict[str, Any], *, detail: bool = False) -> dict[str, Any]:
    """The API view: times in the event's own time zone (ISO 8601 with offset)."""
    tz = doc["timezone"]
    view = {k: v for k, v in doc.items() if k not in {"_id", "search_text", "waitlist_seq"}}
    view["id"] = doc["_id"]
    for key in (*TIMES, "created_at", "updated_at", "published_at", "cancelled_at", "completed_at"):
        if view.get(key) is not None:
            view[key] = clock.local(view[key], tz).isoformat()
    view["starts_at_utc"] = clock.local(doc["starts_at"], "UTC").isoformat()
    capacity = doc.get("capacity")
    view["seats_free"] = None if capacity is None else max(0, capacity - doc["seats_taken"])
    if not detail:
        view.pop("created_by", None)
    return view

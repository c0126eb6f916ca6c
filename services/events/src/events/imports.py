"""Bulk import: a city's catalogue moved in (from Linked Events, say) many events per
request instead of a create and a publish per event.

Each event is checked by the same rules as a create (and a publish, when published); the
places and parent events of a batch are read in one query each; the batch is written in
one transaction with its `event.published` messages staged in the outbox. An event given
a `source_id` (its id in the system it comes from) gets an id derived from it, so an
import sent again (a lost answer, a rerun of a migration) creates nothing twice: events
already here are reported as `existing` and left as they are."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import Field
from pymongo.errors import DuplicateKeyError

from contracts import events as ev
from events import clock, event, store
from events.errors import EventsError, conflict, invalid
from events.parts import Parts
from events.settings import EventsSettings
from events.status import EventStatus
from kit.app import Service
from kit.requests import Strict
from kit.uow import UnitOfWork


class ImportedEvent(event.EventIn):
    source_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",  # printable ASCII, no spaces: linkedevents:helsinki:agggfz
        description="The event's id where it comes from: importing it again creates nothing.",
    )


class ImportIn(Strict):
    # The hard bound; `KOHTAAMO_IMPORT_MAX` (500) may set a lower one.
    events: list[ImportedEvent] = Field(min_length=1, max_length=1000)
    publish: bool = Field(default=True, description="Published at once (else drafts).")


def event_id(municipality: str, source_id: str) -> str:
    """The same id for the same source event of the same municipality, in the form of a
    generated one (evt-<12 hex>)."""
    digest = hashlib.blake2b(f"{municipality}\n{source_id}".encode(), digest_size=6)
    return f"evt-{digest.hexdigest()}"


async def run(
    svc: Service[EventsSettings], *, data: ImportIn, municipality: str, created_by: str
) -> dict[str, Any]:
    if len(data.events) > svc.settings.import_max:
        raise invalid("events", f"At most {svc.settings.import_max} events per import.")
    tz = svc.settings.timezone_of(municipality)
    db = svc.store.db
    venue_ids = {e.venue_id for e in data.events if e.venue_id}
    venues = {
        v["_id"]: v
        for v in await db[store.VENUES]
        .find({"_id": {"$in": sorted(venue_ids)}, "municipality": municipality})
        .to_list(None)
    }
    parent_ids = {e.parent_event_id for e in data.events if e.parent_event_id}
    parents = {
        p["_id"]: p
        for p in await db[store.EVENTS]
        .find(
            {"_id": {"$in": sorted(parent_ids)}, "municipality": municipality},
            projection={"parent_event_id": 1, "municipality": 1},
        )
        .to_list(None)
    }
    now = whole_ms(clock.now())
    docs: list[dict[str, Any]] = []
    sources: dict[str, int] = {}
    for at, item in enumerate(data.events):
        try:
            doc = _document(item, municipality, tz, created_by, venues, parents, now)
            if data.publish and doc["ends_at"] <= now:
                raise conflict("The event is already over.", field="ends_at")
        except EventsError as exc:
            exc.field = f"events.{at}.{exc.field}" if exc.field else f"events.{at}"
            raise
        if item.source_id is not None:
            if item.source_id in sources:
                raise invalid(
                    f"events.{at}.source_id",
                    f"The same source_id as events.{sources[item.source_id]}.",
                )
            sources[item.source_id] = at
            doc["_id"] = event_id(municipality, item.source_id)
            doc["source_id"] = item.source_id
        if data.publish:
            doc.update(status=EventStatus.PUBLISHED.value, published_at=now)
        docs.append(doc)
    known = {
        d["_id"]
        for d in await db[store.EVENTS]
        .find({"_id": {"$in": [d["_id"] for d in docs]}}, projection={"_id": 1})
        .to_list(None)
    }
    new = [d for d in docs if d["_id"] not in known]

    messages = [
        svc.event(
            ev.EVENT_PUBLISHED,
            event.facts(d),
            municipality=municipality,
            subject=f"event/{d['_id']}",
        )
        for d in (new if data.publish else [])
    ]

    async def work(uow: UnitOfWork) -> None:
        if new:
            await db[store.EVENTS].insert_many(new, session=uow.session)
            await uow.emit(*messages)

    try:
        await svc.uow.run(work)
    except DuplicateKeyError as exc:  # the same import running beside this one
        raise conflict("Some of these events were imported meanwhile; send it again.") from exc
    # The documents as written (times already in whole milliseconds, as the store keeps
    # them): held at once, and not read again when their messages come back.
    reads = svc.part(Parts).catalogue
    for doc in new:
        reads.apply(doc)
    reads.held(*(m.id for m in messages))
    return {
        "created": [
            {"id": d["_id"], "revision": d["revision"], "source_id": d.get("source_id")}
            for d in new
        ],
        "existing": [d["_id"] for d in docs if d["_id"] in known],
    }


def whole_ms(value: Any) -> Any:
    """A time as the store keeps it (whole milliseconds; the driver floors the rest)."""
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def _document(
    item: ImportedEvent,
    municipality: str,
    tz: str,
    created_by: str,
    venues: dict[str, dict[str, Any]],
    parents: dict[str, dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """What event.new_document builds, with the batch's places and parents at hand."""
    values = {
        **event.DEFAULTS,
        **item.model_dump(mode="json", exclude_none=True, exclude={"source_id"}),
    }
    values.update({k: whole_ms(v) for k, v in event.times(item, tz).items()})
    values["organiser"] = {**values["organiser"], "kind": "staff"}
    if item.parent_event_id:
        event.check_parent(item.parent_event_id, parents.get(item.parent_event_id), municipality)
    venue = event.place(item.venue_id, venues.get(item.venue_id or ""), municipality)
    return event.draft(
        values,
        municipality=municipality,
        tz=tz,
        venue=venue,
        created_by=created_by,
        now=now,
    )

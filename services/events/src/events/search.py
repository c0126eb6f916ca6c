"""Listing and search of events: every filter maps onto the indexed
(municipality, status, starts_at) range, narrowed by the others; paginated."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events import clock, store
from events.parts import Parts
from events.settings import EventsSettings
from events.status import EventStatus
from kit.app import Service

PUBLIC = (EventStatus.PUBLISHED, EventStatus.CANCELLED, EventStatus.COMPLETED)


@dataclass
class Filters:
    municipality: str
    statuses: tuple[EventStatus, ...] = (EventStatus.PUBLISHED,)
    start: datetime | None = None  # events ending at/after this
    end: datetime | None = None  # events starting before this
    kinds: list[str] = field(default_factory=list)
    audiences: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    venue_kinds: list[str] = field(default_factory=list)
    venue_id: str | None = None
    series_id: str | None = None
    parent_event_id: str | None = None
    text: str | None = None
    created_by: str | None = None


def query(f: Filters, tz: str) -> dict[str, Any]:
    q: dict[str, Any] = {"municipality": f.municipality, "status": {"$in": list(f.statuses)}}
    if f.start is not None:
        # Ongoing events count too, however long they run: an event is in range when it
        # has not ended by `start` (the (municipality, status, ends_at) index serves this).
        q["ends_at"] = {"$gte": clock.to_utc(f.start, tz)}
    if f.end is not None:
        q["starts_at"] = {"$lt": clock.to_utc(f.end, tz)}
    for key, values in (
        ("kind", f.kinds),
        ("audiences", f.audiences),
        ("topics.skill", [t.lower() for t in f.topics]),
        ("languages", f.languages),
        ("venue_kind", f.venue_kinds),
    ):
        if values:
            q[key] = {"$in": values}
    for key, value in (
        ("venue_id", f.venue_id),
        ("series_id", f.series_id),
        ("parent_event_id", f.parent_event_id),
        ("created_by", f.created_by),
    ):
        if value:
            q[key] = value
    if f.text:
        words = [re.escape(w) for w in f.text.lower().split()[:8]]
        q["$and"] = [{"search_text": {"$regex": w}} for w in words]
    return q


async def find(
    svc: Service[EventsSettings], f: Filters, *, limit: int, offset: int = 0
) -> tuple[list[dict[str, Any]], int | None]:
    """One page and the offset of the next one (None at the end)."""
    tz = svc.settings.timezone_of(f.municipality)
    docs = (
        await svc.store.db[store.EVENTS]
        .find(
            query(f, tz),
            sort=[("starts_at", 1), ("_id", 1)],
            skip=offset,
            limit=limit + 1,
            projection={"search_text": 0},
        )
        .to_list(None)
    )
    more = len(docs) > limit
    return docs[:limit], (offset + limit if more else None)


async def sub_events(svc: Service[EventsSettings], parent: dict[str, Any]) -> list[dict[str, Any]]:
    """The public sub-events of an event, in order: from the catalogue when it holds them
    (no sorted store query), else from the store."""
    reads = svc.part(Parts).catalogue
    f = Filters(municipality=parent["municipality"], statuses=PUBLIC, parent_event_id=parent["_id"])
    if reads.answers(f):
        return [json.loads(e.brief) | {"_id": e.id} for e in reads.find(f, limit=100)[0]]
    return (await find(svc, f, limit=100))[0]

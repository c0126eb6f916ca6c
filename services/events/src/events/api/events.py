"""Events API: listing and search (public), drafts by organisers, workflow by staff."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field, StringConstraints

from contracts.common import Audience
from contracts.events import EventKind, VenueKind
from events import access, event, imports, search
from events.api import caching
from events.api.deps import Who
from events.api.views import EventDetail, EventOut, EventPage, ImportOut
from events.errors import forbidden
from events.parts import Parts
from events.settings import EventsSettings
from events.status import EventStatus
from kit import conditional
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.dates import Moment
from kit.openapi import returns
from kit.pages import next_link
from kit.requests import Strict


class CancelIn(Strict):
    reason: str | None = Field(default=None, max_length=500)


def organiser_kind(principal: Principal) -> str:
    if principal.has(*access.MANAGERS):
        return "staff"
    return "partner" if principal.has("partner") else "mentor"


def filters_from(
    *,
    municipality: str,
    statuses: tuple[EventStatus, ...],
    start: datetime | None,
    end: datetime | None,
    kind: list[EventKind] | None,
    audience: list[Audience] | None,
    topic: list[str] | None,
    language: list[str] | None,
    venue_kind: list[VenueKind] | None,
    venue_id: str | None,
    series_id: str | None,
    parent_event_id: str | None,
    q: str | None,
) -> search.Filters:
    return search.Filters(
        municipality=municipality,
        statuses=statuses,
        start=start,
        end=end,
        kinds=[k.value for k in kind or []],
        audiences=[a.value for a in audience or []],
        topics=topic or [],
        languages=language or [],
        venue_kinds=[v.value for v in venue_kind or []],
        venue_id=venue_id,
        series_id=series_id,
        parent_event_id=parent_event_id,
        text=q,
    )


class ListParams:
    """Query parameters of a listing (shared with the iCalendar feed): `list_params`."""

    def __init__(
        self,
        municipality: str | None,
        status: list[EventStatus] | None,
        values: dict[str, Any],
    ) -> None:
        self.values = values
        self.municipality = municipality
        self.status = status

    def filters(self, svc: Service[EventsSettings], principal: Principal | None) -> search.Filters:
        municipality = self.municipality or (
            principal.municipality if principal else svc.settings.municipality
        )
        wanted = tuple(self.status or (EventStatus.PUBLISHED,))
        created_by = None
        if EventStatus.DRAFT in wanted and not access.is_manager(principal, municipality):
            # Organisers see only their own drafts; the public sees none.
            if principal is None or not principal.has("partner", "mentor"):
                raise forbidden("Drafts are visible to staff and their authors only.")
            ensure_municipality(principal, municipality)
            created_by = principal.subject
        f = filters_from(municipality=municipality, statuses=wanted, **self.values)
        f.created_by = created_by
        return f


# A topic or a language code as a filter value, and how many of each a listing takes: a
# query string is as hostile as a body (issue 24), and every value is compared per event.
FilterWord = Annotated[str, StringConstraints(max_length=100)]
FILTER_VALUES_MAX = 20


async def list_params(
    # A slug, as identity makes them: it is also the feed's calendar name.
    municipality: str | None = Query(default=None, pattern=r"^[a-z][a-z0-9-]{1,39}$"),
    start: Annotated[Moment | None, Query(alias="from")] = None,
    end: Annotated[Moment | None, Query(alias="to")] = None,
    kind: list[EventKind] | None = Query(default=None, max_length=FILTER_VALUES_MAX),
    audience: list[Audience] | None = Query(default=None, max_length=FILTER_VALUES_MAX),
    topic: list[FilterWord] | None = Query(default=None, max_length=FILTER_VALUES_MAX),
    language: list[FilterWord] | None = Query(default=None, max_length=FILTER_VALUES_MAX),
    venue_kind: list[VenueKind] | None = Query(default=None, max_length=FILTER_VALUES_MAX),
    venue_id: str | None = Query(default=None, max_length=100),
    series_id: str | None = Query(default=None, max_length=100),
    parent_event_id: str | None = Query(default=None, max_length=100),
    q: str | None = Query(default=None, max_length=200),
    status: list[EventStatus] | None = Query(default=None, max_length=FILTER_VALUES_MAX),
) -> ListParams:
    """FastAPI dependency: a listing's parameters. A coroutine, not the class itself: FastAPI
    runs a plain callable dependency in its thread pool, a hand-off per request that cost
    about a tenth of a catalogue list's CPU."""
    values: dict[str, Any] = {
        "start": start, "end": end, "kind": kind, "audience": audience, "topic": topic,
        "language": language, "venue_kind": venue_kind, "venue_id": venue_id,
        "series_id": series_id, "parent_event_id": parent_event_id, "q": q,
    }  # fmt: skip
    return ListParams(municipality, status, values)


# The bodies are written as bytes (to hash them for the ETag): documented here.
LISTING = caching.cached("A page of events (docs/api.md, Collections)", model=EventPage)
ONE = caching.cached("The event with its sub-events", model=EventDetail)


def router(svc: Service[EventsSettings], who: Who) -> APIRouter:
    api = APIRouter(prefix="/events", tags=["events"])
    managers = Depends(who.require(*access.MANAGERS))
    organisers = Depends(who.require(*access.ORGANISERS))
    anyone = Depends(who.optional)
    page_max = svc.settings.page_max
    max_age = svc.settings.cache_max_age_s
    reads = svc.part(Parts).catalogue

    def page_fields(
        request: Request, limit: int, offset: int, next_offset: int | None
    ) -> dict[str, Any]:
        # kit.pages' fields (no total: the catalogue does not count a filter's matches);
        # next_offset kept for clients of the earlier shape (docs/api.md, migration).
        return {
            "limit": limit,
            "offset": offset,
            "next": next_link(request, svc.settings, next_offset),
            "total": None,
            "next_offset": next_offset,
        }

    @api.get("", name="list", **LISTING)
    async def listing(
        request: Request,
        params: ListParams = Depends(list_params),
        limit: int = Query(default=20, ge=1, le=100),
        offset: int = Query(default=0, ge=0, le=100_000),
        fresh: str | None = Query(
            default=None,
            pattern=r"^evt-[a-z0-9-]{1,64}:[0-9]{1,9}$",  # seeded ids are slugs
            description="`<event id>:<revision>` from a write's answer: this replica reads "
            "that event again first if it holds an older revision (read your own write).",
        ),
        principal: Principal | None = anyone,
    ) -> Response:
        """The events catalogue: published events by time, filtered by words, kind, dates,
        municipality, audience and more, a page at a time (no total: the filters are not counted).
        """
        filters = params.filters(svc, principal)
        limit = min(limit, page_max)
        if reads.answers(filters):
            if fresh:
                event_id, revision = fresh.split(":")
                await reads.at_least(event_id, int(revision))
            entries, next_offset = reads.find(filters, limit=limit, offset=offset)
            items = b",".join(e.view for e in entries)
            paging = caching.dumps(page_fields(request, limit, offset, next_offset))
            body = b'{"items":[%b],%b' % (items, paging[1:])
            # Strong: the body is these views in this order and these paging bytes, and
            # each view's digest was made once; hashing ~55 KB per answer was 6% of it.
            etag = caching.etag_of(b"".join(e.digest for e in entries) + paging)
        else:  # drafts: from the store
            docs, next_offset = await search.find(svc, filters, limit=limit, offset=offset)
            paged = page_fields(request, limit, offset, next_offset)
            body = caching.dumps({"items": [event.out(d) for d in docs], **paged})
            etag = caching.etag_of(body)
        return caching.respond(request, body, public=principal is None, max_age=max_age, etag=etag)

    @api.post("", **returns(EventOut, "The draft", 201))
    async def create(data: event.EventIn, principal: Principal = organisers) -> dict[str, Any]:
        """Creates an event as a draft (or published at once) in the caller's municipality; staff
        and admins."""
        doc = await event.create(
            svc,
            data=data,
            municipality=principal.municipality,
            created_by=principal.subject,
            organiser_kind=organiser_kind(principal),
        )
        return event.out(doc, detail=True)

    @api.post("/import", **returns(ImportOut, "What the import made and found", 201))
    async def bulk_import(
        data: imports.ImportIn, principal: Principal = managers
    ) -> dict[str, Any]:
        """Many events at once (a city's catalogue moved in), published unless `publish`
        is false; each checked as a create is. An event with a `source_id` already
        imported is listed under `existing` and left as it is."""
        made = principal.municipality
        async with svc.audit.action(
            principal, "event.import", "municipality", made, events=len(data.events)
        ) as entry:
            entry.any_transaction = True  # drafts, or nothing new, stage no events
            done = await imports.run(
                svc, data=data, municipality=made, created_by=principal.subject
            )
            entry.note(created=len(done["created"]), existing=len(done["existing"]))
            entry.note(published=data.publish)
        return done

    @api.get("/{event_id}", **ONE)
    async def get(
        request: Request,
        event_id: str,
        min_revision: int | None = Query(
            default=None,
            ge=1,
            le=999_999_999,
            description="The `revision` a write answered: an older copy is read again first.",
        ),
        principal: Principal | None = anyone,
    ) -> Response:
        """One event: public once published, drafts for its managers; with its ETag and caching
        headers (304 on If-None-Match)."""
        entry = await reads.at_least(event_id, min_revision)
        if entry is not None and not access.is_manager(principal, entry.municipality):
            # Public and not shown in detail: as held, with its sub-events spliced in.
            subs = b",".join(s.brief for s in reads.sub_events(entry))
            body = b'%b,"sub_events":[%b]}' % (entry.view[:-1], subs)
            revision = entry.revision
        else:
            doc = await event.get(svc, event_id)
            access.ensure_visible(principal, doc)
            view = event.out(doc, detail=access.is_manager(principal, doc["municipality"]))
            subs_docs = await search.sub_events(svc, doc)
            view["sub_events"] = [{"id": s["_id"], "title": s["title"]} for s in subs_docs]
            body = caching.dumps(view)
            revision = conditional.revision_of(doc)
        # The revision (for If-Match) and the body's hash: the view also shows sub-events
        # and, for managers, more fields (a 304 only for the very same bytes).
        etag = conditional.etag(revision, body)
        return caching.respond(request, body, public=principal is None, max_age=max_age, etag=etag)

    @api.patch("/{event_id}", **returns(EventOut, "The event as changed"))
    async def update(
        event_id: str,
        patch: event.EventPatch,
        response: Response,
        precondition: Annotated[conditional.Precondition, Depends(conditional.if_match)],
        principal: Principal = organisers,
    ) -> dict[str, Any]:
        """Changes an event (its managers); honours If-Match (412 on a stale version)."""
        doc = await event.get(svc, event_id)
        access.ensure_can_edit(principal, doc)
        fresh = await event.update(svc, event=doc, patch=patch, precondition=precondition)
        view = event.out(fresh, detail=True)
        # the manager's view of the new revision; its sub-events are read with GET
        response.headers["ETag"] = conditional.etag(fresh, "edited")
        return view

    @api.post("/{event_id}/publish", **returns(EventOut, "The published event"))
    async def publish(event_id: str, principal: Principal = managers) -> dict[str, Any]:
        """Publishes a draft event: it appears in the catalogue and opens for registration."""
        async with svc.audit.action(principal, "event.publish", "event", event_id) as entry:
            doc = await event.get(svc, event_id)
            entry.municipality = doc["municipality"]
            access.ensure_manager(principal, doc["municipality"])
            published = await event.publish(svc, event=doc)
        return event.out(published, detail=True)

    @api.post("/{event_id}/cancel", **returns(EventOut, "The cancelled event"))
    async def cancel(
        event_id: str, body: CancelIn | None = None, principal: Principal = organisers
    ) -> dict[str, Any]:
        """Cancels an event (its managers)."""
        reason = body.reason if body else None
        async with svc.audit.action(
            principal, "event.cancel", "event", event_id, reason=reason
        ) as entry:
            doc = await event.get(svc, event_id)
            entry.municipality = doc["municipality"]
            entry.any_transaction = True  # a draft's cancel tells no other service
            access.ensure_can_edit(principal, doc)  # organisers may withdraw their own drafts
            cancelled = await event.cancel(svc, event=doc, reason=reason)
        return event.out(cancelled, detail=True)

    @api.post("/{event_id}/complete", **returns(EventOut, "The completed event"))
    async def complete(event_id: str, principal: Principal = managers) -> dict[str, Any]:
        """Marks a held event completed (its managers)."""
        doc = await event.get(svc, event_id)
        access.ensure_manager(principal, doc["municipality"])
        return event.out(await event.complete(svc, event=doc), detail=True)

    return api

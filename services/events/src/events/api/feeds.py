"""Public feeds: iCalendar for a filtered list and for one event; JSON-LD per event."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from events import access, event, feed, search, venue
from events.api import caching
from events.api.deps import Who
from events.api.events import ListParams, list_params
from events.api.views import JsonLdEvent
from events.parts import Parts
from events.settings import EventsSettings
from kit.app import Service
from kit.auth import Principal
from kit.links import public_base

ICS = "text/calendar; charset=utf-8"
LD = "application/ld+json"


def router(svc: Service[EventsSettings], who: Who) -> APIRouter:
    api = APIRouter(tags=["feeds"])
    anyone = Depends(who.optional)
    max_age = svc.settings.cache_max_age_s

    async def venues_of(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return await venue.by_id(svc, list({d["venue_id"] for d in docs if d.get("venue_id")}))

    @api.get("/feeds/events.ics", **caching.cached("An iCalendar feed", "text/calendar"))
    async def list_feed(
        request: Request,
        params: ListParams = Depends(list_params),
        lang: str = Query(default="fi", pattern="^[a-z]{2,3}$"),
        limit: int = Query(default=200, ge=1, le=500),
        principal: Principal | None = anyone,
    ) -> Response:
        """The public events of a municipality as an iCalendar feed, for calendar apps to subscribe
        to."""
        base = public_base(request, svc.settings)
        filters = params.filters(svc, principal)
        reads = svc.part(Parts).catalogue
        if reads.answers(filters):  # ordered by the catalogue, documents read by _id
            docs = await reads.documents(reads.find(filters, limit=limit)[0])
        else:
            docs, _ = await search.find(svc, filters, limit=limit)
        body = feed.calendar(
            docs, await venues_of(docs), name=f"Kohtaamo {filters.municipality}", lang=lang,
            base_url=base,
        )  # fmt: skip
        return caching.respond(
            request, body, public=principal is None, max_age=max_age, media_type=ICS
        )

    @api.get(
        "/events/{event_id}/event.ics", **caching.cached("One event as iCalendar", "text/calendar")
    )
    async def one_feed(
        request: Request,
        event_id: str,
        lang: str = Query(default="fi", pattern="^[a-z]{2,3}$"),
        principal: Principal | None = anyone,
    ) -> Response:
        """One public event as an iCalendar file, to add it to a calendar."""
        doc = await event.get(svc, event_id)
        access.ensure_visible(principal, doc)
        base = public_base(request, svc.settings)
        body = feed.calendar(
            [doc], await venues_of([doc]), name=feed.text(doc["title"], lang), lang=lang,
            base_url=base,
        )  # fmt: skip
        return caching.respond(
            request,
            body,
            public=principal is None,
            max_age=max_age,
            media_type=ICS,
            headers={"Content-Disposition": f'attachment; filename="{event_id}.ics"'},
        )

    @api.get(
        "/events/{event_id}/jsonld",
        **caching.cached("The event as schema.org JSON-LD", LD, model=JsonLdEvent),
    )
    async def json_ld(
        request: Request,
        event_id: str,
        lang: str = Query(default="fi", pattern="^[a-z]{2,3}$"),
        principal: Principal | None = anyone,
    ) -> Response:
        """One public event as schema.org JSON-LD, for search engines and linked-data partners."""
        doc = await event.get(svc, event_id)
        access.ensure_visible(principal, doc)
        venue_doc = (await venues_of([doc])).get(doc.get("venue_id") or "")
        subs = await search.sub_events(svc, doc)
        base = public_base(request, svc.settings)
        ld = feed.json_ld(doc, venue_doc, lang=lang, base_url=base, sub_events=subs)
        return caching.respond(
            request, caching.dumps(ld), public=principal is None, max_age=max_age, media_type=LD
        )

    return api

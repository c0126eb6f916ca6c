"""Series API: create a recurring series of drafts, publish or cancel it as a whole."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from events import access, event, series
from events.api.deps import Who
from events.api.events import CancelIn, organiser_kind
from events.api.views import SeriesCancelled, SeriesOut, SeriesPublished
from events.errors import EventsError
from events.settings import EventsSettings
from events.status import EventStatus
from kit import conditional
from kit.app import Service
from kit.auth import Principal
from kit.idempotency import idempotent
from kit.openapi import returns


def _out(doc: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    view = {k: v for k, v in doc.items() if k not in {"_id", conditional.REVISION}}
    view["id"] = doc["_id"]
    view["occurrences"] = [event.out(m) for m in members]
    return view


def router(svc: Service[EventsSettings], who: Who) -> APIRouter:
    api = APIRouter(prefix="/series", tags=["series"])
    managers = Depends(who.require(*access.MANAGERS))
    organisers = Depends(who.require(*access.ORGANISERS))
    anyone = Depends(who.optional)

    @api.post(
        "",
        dependencies=[idempotent(organisers.dependency)],
        **returns(SeriesOut, "The series and its draft occurrences", 201),
    )
    async def create(data: series.SeriesIn, principal: Principal = organisers) -> dict[str, Any]:
        """Creates a weekly series of draft events from a first event and a recurrence rule; takes
        an Idempotency-Key."""
        doc, members = await series.create(
            svc,
            data=data,
            municipality=principal.municipality,
            created_by=principal.subject,
            organiser_kind=organiser_kind(principal),
        )
        return _out(doc, members)

    @api.get("/{series_id}", **returns(SeriesOut, "The series and the occurrences visible"))
    async def get(
        series_id: str, response: Response, principal: Principal | None = anyone
    ) -> dict[str, Any]:
        """One series with its occurrences."""
        doc = await series.get(svc, series_id)
        visible = []
        for member in await series.members(svc, series_id):
            try:
                access.ensure_visible(principal, member)
            except EventsError:  # a draft this caller may not see
                continue
            visible.append(member)
        if not visible and not access.is_manager(principal, doc["municipality"]):
            # only drafts so far: as hidden as a draft event
            access.ensure_visible(principal, {**doc, "_id": series_id, "status": EventStatus.DRAFT})
        # the series' own revision, and which occurrences at which revisions it shows
        shown = ",".join(f"{m['_id']}:{conditional.revision_of(m)}" for m in visible)
        conditional.tag(response, doc, shown.encode())
        return _out(doc, visible)

    @api.post("/{series_id}/publish", **returns(SeriesPublished, "How many were published"))
    async def publish(series_id: str, principal: Principal = managers) -> dict[str, Any]:
        """Publishes every draft occurrence of a series at once."""
        async with svc.audit.action(principal, "series.publish", "series", series_id) as entry:
            doc = await series.get(svc, series_id)
            entry.municipality = doc["municipality"]
            access.ensure_manager(principal, doc["municipality"])
            published = await series.publish(svc, series=doc)
            entry.note(published=published)
        return {"published": published}

    @api.post("/{series_id}/cancel", **returns(SeriesCancelled, "How many were cancelled"))
    async def cancel(
        series_id: str, body: CancelIn | None = None, principal: Principal = managers
    ) -> dict[str, Any]:
        """Cancels the occurrences of a series that have not started."""
        reason = body.reason if body else None
        async with svc.audit.action(
            principal, "series.cancel", "series", series_id, reason=reason
        ) as entry:
            doc = await series.get(svc, series_id)
            entry.municipality = doc["municipality"]
            entry.any_transaction = True  # drafts' cancels tell no other service
            access.ensure_manager(principal, doc["municipality"])
            cancelled = await series.cancel(svc, series=doc, reason=reason)
            entry.note(cancelled=cancelled)
        return {"cancelled": cancelled}

    return api

"""The composition root of the events service."""

from __future__ import annotations

from events import catalogue, handlers, registration, store
from events.api import deps, events, feeds, registrations, series, venues
from events.api.problems import problem_of
from events.errors import EventsError
from events.parts import Parts
from events.settings import EventsSettings
from kit import audit
from kit.app import Service


def service(settings: EventsSettings | None = None) -> Service[EventsSettings]:
    settings = settings or EventsSettings()
    svc = Service(
        "events",
        settings=settings,
        description="Venues, learning events, registrations with waiting lists, attendance, "
        "series, iCalendar and JSON-LD feeds.",
    )
    svc.map_errors(EventsError, problem_of)  # the domain's errors as problem+json
    who = deps.Who(svc)
    registrar = registration.Registrar(svc, batch=settings.registration_batch)
    reads = catalogue.Catalogue(svc)
    svc.provide(Parts(registrar=registrar, catalogue=reads))  # found with svc.part(Parts)
    svc.include_router(venues.router(svc, who))
    svc.include_router(series.router(svc, who))
    svc.include_router(feeds.router(svc, who))  # before /events/{id} routes of the same shape
    svc.include_router(registrations.router(svc, who, registrar))
    svc.include_router(events.router(svc, who))
    svc.include_router(audit.router(svc))
    handlers.register(svc)

    @svc.on_startup
    async def indexes() -> None:
        await store.ensure_indexes(svc.store.db)
        await store.backfill_passes(svc.store.db)
        await reads.start()  # loaded before the service says it is ready

    svc.on_shutdown(reads.stop)

    return svc

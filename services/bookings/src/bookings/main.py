"""Composition root of the bookings service."""

from __future__ import annotations

from bookings.api import bookings as bookings_api
from bookings.api import feeds, locations, resources
from bookings.api.problems import problem_of
from bookings.checkin import NoShowSweeper
from bookings.desk import Desk
from bookings.errors import BookingsError
from bookings.handlers import register_handlers
from bookings.migrations import backfill_passes
from bookings.recent import Recent
from bookings.settings import BookingsSettings
from bookings.store import ensure_indexes
from bookings.timetable import Timetable
from kit import audit
from kit.app import Service


def service(settings: BookingsSettings | None = None) -> Service[BookingsSettings]:
    settings = settings or BookingsSettings()
    svc = Service(
        "bookings",
        settings=settings,
        description="Urban Office and Mediamaja: locations, resources, rules, availability, "
        "bookings without double booking, series, loans, check-in and calendar feeds.",
    )
    # The service's parts, each found by its class (svc.part).
    svc.provide(Desk(svc, settings.booking_attempts, settings.booking_lanes))
    svc.provide(Recent())
    svc.provide(Timetable(svc, settings.availability_cache_slots))
    # Domain errors are not HTTP answers: the API layer's mapping answers them.
    svc.map_errors(BookingsError, problem_of)
    for module in (locations, resources, bookings_api, feeds):
        svc.include_router(module.build_router(svc))
    svc.include_router(audit.router(svc))
    register_handlers(svc)
    sweeper = NoShowSweeper(svc, settings.no_show_sweep_s)

    @svc.on_startup
    async def prepare() -> None:
        await ensure_indexes(svc.store)
        await backfill_passes(svc.store)
        sweeper.start()

    @svc.on_shutdown
    async def stop_sweeper() -> None:
        await sweeper.stop()

    return svc

"""The composition root of the analytics service."""

from __future__ import annotations

from pydantic import ValidationError

from analytics import erasure, facts, projections
from analytics.api import build_router
from analytics.settings import AnalyticsSettings
from contracts import identity as idc
from contracts.analytics import ERASURE_COMPLETED, AnalyticsErasureCompleted
from contracts.pseudonym import participant_key
from kit.app import Service
from kit.consumer import Delivery


def _settings() -> AnalyticsSettings:
    try:
        return AnalyticsSettings()  # type: ignore[call-arg]
    except ValidationError as exc:
        if any(e["loc"] == ("pseudonym_key",) for e in exc.errors()):
            raise SystemExit(
                "analytics: set KOHTAAMO_PSEUDONYM_KEY (the network's pseudonym key, shared "
                "with identity); analytics never stores a user id without it."
            ) from exc
        raise


def service(settings: AnalyticsSettings | None = None) -> Service:
    settings = settings or _settings()
    svc = Service(
        "analytics",
        settings=settings,
        description="Pseudonymous facts, ESF+ indicators, usage and network statistics.",
    )
    key = settings.pseudonym_key.get_secret_value()
    tz = settings.timezone
    db = svc.store.db

    @svc.on_startup
    async def indexes() -> None:
        await facts.ensure_indexes(db)
        await projections.ensure_indexes(db)

    async def ingest(delivery: Delivery) -> None:
        """Append the event as a fact and apply it to the projections, atomically with
        the inbox record (so a redelivered event changes nothing)."""
        fact = facts.make_fact(delivery.event, delivery.data, key)
        fact = await erasure.screen(db, fact, delivery.session)
        await facts.append(db, fact, delivery.session)
        await projections.project(db, fact, delivery.session, tz)

    # Network-wide: every municipality's events, also those federation brings.
    @svc.consumer("identity", [*facts.IDENTITY_TYPES, idc.USER_ERASED], network=True)
    async def on_identity(delivery: Delivery) -> None:
        """Identity's PII-free events (never contact.changed), and erasures."""
        if delivery.event.type == idc.USER_ERASED:
            user_id = delivery.data.user_id  # type: ignore[union-attr]
            await svc.outbox.forget(delivery.session, user_id)  # events nobody could receive
            await facts.append(
                db, facts.make_fact(delivery.event, delivery.data, key), delivery.session
            )
            erased = await erasure.erase(db, participant_key(user_id, key), delivery.session)
            done = svc.event(
                ERASURE_COMPLETED,
                AnalyticsErasureCompleted(user_id=user_id, records_erased=erased),
                municipality=delivery.event.municipality,
                subject=f"user/{user_id}",
            )
            await svc.emit(delivery.session, done)
            svc.outbox.notify()
            return
        await ingest(delivery)

    @svc.consumer("events", facts.EVENTS_TYPES, network=True)
    async def on_events(delivery: Delivery) -> None:
        """Venues, events, registrations, attendance and visit counts."""
        await ingest(delivery)

    @svc.consumer("bookings", facts.BOOKINGS_TYPES, network=True)
    async def on_bookings(delivery: Delivery) -> None:
        """Opening hours, resources and bookings."""
        await ingest(delivery)

    svc.include_router(build_router(svc, settings))
    return svc

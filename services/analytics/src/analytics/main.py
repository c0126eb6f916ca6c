"""The composition root of the analytics service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

from analytics import erasure, facts, projections
from analytics.api import build_router
from analytics.ingest import ingest_batch
from analytics.settings import AnalyticsSettings
from contracts import Payload
from contracts import identity as idc
from contracts.analytics import ERASURE_COMPLETED, AnalyticsErasureCompleted
from contracts.pseudonym import participant_key
from kit import audit
from kit.app import Service
from kit.consumer import Delivery
from kit.inbox import Duplicates

log = structlog.get_logger("analytics")


def _settings() -> AnalyticsSettings:
    try:
        return AnalyticsSettings()
    except ValidationError as exc:
        if any(e["loc"] == ("pseudonym_key",) for e in exc.errors()):
            raise SystemExit(
                "analytics: set KOHTAAMO_PSEUDONYM_KEY (the network's pseudonym key, shared "
                "with identity); analytics never stores a user id without it."
            ) from exc
        raise


@contextmanager
def in_batch(positions: list[int]) -> Iterator[None]:
    """Duplicates of a part of a batch, as positions in the whole batch."""
    try:
        yield
    except Duplicates as dup:
        raise Duplicates([positions[i] for i in dup.positions]) from dup


def service(settings: AnalyticsSettings | None = None) -> Service[AnalyticsSettings]:
    settings = settings or _settings()
    svc = Service(
        "analytics",
        settings=settings,
        description="Pseudonymous facts, ESF+ indicators, usage and network statistics.",
    )
    key = settings.pseudonym_key.get_secret_value()
    tz = settings.timezone
    db = svc.store.db
    tombstones = erasure.Tombstones()

    @svc.on_startup
    async def indexes() -> None:
        await facts.ensure_indexes(db)
        await projections.ensure_indexes(db)
        # Projections of an earlier model: their figures stay wrong until a rebuild
        # replaces them (see docs/operations.md).
        outdated = await projections.outdated(db)
        if outdated:
            log.warning("analytics.rebuild_needed", outdated_collections=outdated)

    async def ingest(deliveries: list[Delivery[Payload]]) -> None:
        """Append the events as facts and apply them to the projections, atomically (an
        event whose fact exists raises Duplicates: the facts are the inbox)."""
        await ingest_batch(db, deliveries, key, tz, deliveries[0].session, tombstones)

    async def forget(delivery: Delivery[idc.UserErased]) -> None:
        """An erasure: the user's facts and projections become anonymous counts."""
        assert delivery.uow is not None  # a batch consumer's deliveries share its unit
        user_id = delivery.data.user_id
        try:
            fact = facts.make_fact(delivery.event, delivery.data, key, delivery.time)
            await facts.append(db, fact, delivery.session)
        except DuplicateKeyError as exc:
            raise Duplicates([0]) from exc  # erased before
        await svc.outbox.forget(delivery.session, user_id)  # events nobody could receive
        erased = await erasure.erase(db, participant_key(user_id, key), delivery.session, tz)
        with delivery.context():  # the event continues the erasure's chain
            done = svc.event(
                ERASURE_COMPLETED,
                AnalyticsErasureCompleted(user_id=user_id, records_erased=erased),
                municipality=delivery.event.municipality,
                subject=f"user/{user_id}",
            )
        await delivery.uow.emit(done)  # the relay wakes after the batch commits

    # Network-wide: every municipality's events, also those federation brings. Batched:
    # one transaction per up to `ingest_batch` events (see kit.batching), deduplicated by
    # the facts' keys (no inbox records: a write less per event).
    batch: dict[str, Any] = {
        "batch": settings.ingest_batch,
        "batch_wait_ms": settings.ingest_batch_wait_ms,
        "deduplicates": True,
    }

    async def ingest_run(deliveries: list[Delivery[Payload]], positions: list[int]) -> None:
        if positions:
            with in_batch(positions):
                await ingest([deliveries[i] for i in positions])

    @svc.consumer("identity", [*facts.IDENTITY_TYPES, idc.USER_ERASED], network=True, **batch)
    async def on_identity(deliveries: list[Delivery[Payload]]) -> None:
        """Identity's PII-free events (never contact.changed), and erasures."""
        # An erasure splits the batch: what came before it is applied first, so it sweeps
        # that too, and what comes after sees its tombstone, as one by one.
        run: list[int] = []  # positions in the batch: Duplicates name those
        for position, delivery in enumerate(deliveries):
            if delivery.event.type != idc.USER_ERASED:
                run.append(position)
                continue
            await ingest_run(deliveries, run)
            run = []
            with in_batch([position]):
                await forget(delivery.of(idc.UserErased))
        await ingest_run(deliveries, run)

    @svc.consumer("events", facts.EVENTS_TYPES, network=True, **batch)
    async def on_events(deliveries: list[Delivery[Payload]]) -> None:
        """Venues, events, registrations, attendance and visit counts."""
        await ingest(deliveries)

    @svc.consumer("bookings", facts.BOOKINGS_TYPES, network=True, **batch)
    async def on_bookings(deliveries: list[Delivery[Payload]]) -> None:
        """Opening hours, resources and bookings."""
        await ingest(deliveries)

    svc.include_router(build_router(svc, settings))
    svc.include_router(audit.router(svc))
    return svc

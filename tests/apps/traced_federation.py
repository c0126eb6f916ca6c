"""The two sides of the traced federation test (tests/deploy/test_federation.py), each a
service process of its own (tracing is set up per process from OTEL_*): Kouvola's events
service stages an event in a request (`sender`), Helsinki's network-wide consumer of it
(`receiver`, as analytics consumes Kouvola's events) applies it when federation brings it.
Run as `kohtaamo run traced_federation:sender` with the KOHTAAMO_* and OTEL_* environment."""

from __future__ import annotations

import structlog
from fastapi import APIRouter
from pydantic import BaseModel

from contracts import events
from kit.app import Service
from kit.consumer import Delivery

log = structlog.get_logger("traced_federation")


class Cancel(BaseModel):
    event_id: str


def sender() -> Service:
    service = Service("events")
    router = APIRouter()

    @router.post("/cancel", status_code=202)
    async def cancel(body: Cancel) -> dict[str, str]:
        data = events.EventCancelled.model_validate(
            {"event_id": body.event_id, "title": {"fi": "Työpaja"}, "starts_at": "2030-01-01"}
        )
        event = service.event(events.EVENT_CANCELLED, data, municipality="kouvola")
        async with service.uow() as uow:
            await uow.emit(event)
        return {"id": event.id}

    service.include_router(router)
    return service


def receiver() -> Service:
    service = Service("fedanalytics")

    @service.consumer("traced", [events.EVENT_CANCELLED], network=True)
    async def applied(delivery: Delivery[events.EventCancelled]) -> None:
        log.info("federated.applied", municipality=delivery.event.municipality)

    return service

"""A minimal service built with the kit's app factory, for the process-level test."""

from __future__ import annotations

import structlog
from fastapi import APIRouter
from pydantic import BaseModel

from contracts import Payload, register
from kit.app import Service
from kit.consumer import Delivery

PING_SENT = "kohtaamo.pingsvc.ping.sent.v1"
log = structlog.get_logger("pingservice")


@register(PING_SENT)
class PingSent(Payload):
    text: str


class PingIn(BaseModel):
    text: str
    municipality: str = "helsinki"


def build() -> Service:
    service = Service("pingsvc")
    router = APIRouter()

    @router.post("/pings", status_code=202)
    async def send(ping: PingIn) -> dict[str, str]:
        event = service.event(PING_SENT, PingSent(text=ping.text), municipality=ping.municipality)
        async with service.uow() as uow:
            await uow.db.pings.insert_one({"_id": event.id, "text": ping.text}, session=uow.session)
            await uow.emit(event)
        log.info("ping.accepted", ping_id=event.id)
        return {"id": event.id}

    @service.consumer("echo", [PING_SENT])
    async def echo(delivery: Delivery[PingSent]) -> None:
        log.info("ping.received", text=delivery.data.text)

    service.include_router(router)
    return service

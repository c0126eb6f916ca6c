"""Revoked access tokens: `identity.user.tokens_revoked` over the real broker ends a user's
tokens issued before it in every replica of a service within seconds (the one that took the
message at once, the others from the store), and after a restart; later tokens work."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from contracts import identity as idc
from contracts import topology
from kit.app import Service
from kit.auth import Principal
from kit.testing import TestIssuer, envelope, eventually

ISSUER = TestIssuer()


@dataclass(frozen=True)
class Served:
    """A replica's app (the ASGI transport runs no lifespan: the replica is started apart)."""

    app: FastAPI


def replica(shared: Any) -> Service:
    svc = Service("revtest", settings=shared)
    svc.verifier.trust(ISSUER.issuer, ISSUER.jwks)
    router = APIRouter()

    @router.post("/notes", status_code=201)
    async def write(principal: Principal = Depends(svc.auth.principal)) -> dict[str, str]:
        return {"by": principal.subject}

    svc.include_router(router)
    svc.provide(Served(svc.create_app()))
    return svc


@pytest.fixture(scope="module")
def shared(make_settings: Any) -> Any:
    # One database for all replicas, as in production.
    return make_settings("revtest", revocation_refresh_s=0.3)


@pytest.fixture(scope="module")
async def replicas(shared: Any) -> AsyncIterator[list[Service]]:
    started = [replica(shared), replica(shared)]
    for svc in started:
        await svc.start()
    yield started
    for svc in started:
        await svc.stop()


async def write(svc: Service, token: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=svc.part(Served).app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.post("/notes", headers={"Authorization": f"Bearer {token}"})


async def revoke(amqp_url: str, user_id: str, before: datetime) -> None:
    event = envelope(
        idc.TOKENS_REVOKED,
        {"user_id": user_id, "issued_before": before.isoformat(), "reason": "password_changed"},
    )
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.exchange("identity"))
        await exchange.publish(
            aio_pika.Message(event.model_dump_json().encode(), message_id=event.id),
            routing_key=event.routing_key,
            mandatory=True,
        )
    finally:
        await connection.close()


async def test_revoked_tokens_are_refused_by_every_replica_within_seconds(
    replicas: list[Service], amqp_url: str, shared: Any
) -> None:
    old = ISSUER.token(sub="changed-password", iat=int(time.time()) - 30)
    other = ISSUER.token(sub="someone-else", iat=int(time.time()) - 30)
    for svc in replicas:
        assert (await write(svc, old)).status_code == 201
    await revoke(amqp_url, "changed-password", datetime.now(UTC))

    async def refused_everywhere() -> bool:
        codes = [(await write(svc, old)).status_code for svc in replicas]
        return codes == [401, 401]

    await eventually(refused_everywhere, timeout=10)
    answer = await write(replicas[0], old)
    assert answer.json()["detail"] == "Invalid token: token revoked"
    # Other users, and the user's tokens issued after the revocation, are not affected.
    fresh = ISSUER.token(sub="changed-password", iat=int(time.time()) + 1)
    for svc in replicas:
        assert (await write(svc, other)).status_code == 201
        assert (await write(svc, fresh)).status_code == 201

    # A replica started later knows it from the store at once.
    late = replica(shared)
    await late.start()
    try:
        assert (await write(late, old)).status_code == 401
        assert (await write(late, fresh)).status_code == 201
    finally:
        await late.stop()

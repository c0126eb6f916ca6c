"""Helpers for tests of any service against the real broker (not used at run time)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from contracts import CloudEvent


async def publish_as_producer(settings: Any, *events: CloudEvent) -> None:
    """Publish events as their producing services do: each through a bus logged in as its
    producer's broker user (on the vhost of `settings`), so consumers see the user_id they
    accept. For tests that stand in for a service that is not running."""
    from kit.bus import Bus
    from kit.pytest_plugin import PRODUCER_BUSES, producer_url

    url = settings.amqp_url.get_secret_value()
    for event in events:
        key = (event.producer, url)
        if key not in PRODUCER_BUSES:
            bus = Bus(
                settings.model_copy(
                    update={
                        "service": event.producer,
                        "amqp_url": SecretStr(producer_url(url, event.producer)),
                    }
                )
            )
            await bus.connect()
            PRODUCER_BUSES[key] = bus
        await PRODUCER_BUSES[key].publish_event(event)


def envelope(
    type_: str,
    data: dict[str, Any],
    *,
    municipality: str = "helsinki",
    sign: bool = True,
    **extra: Any,
) -> CloudEvent:
    service = type_.split(".")[1]
    event = CloudEvent(
        source=f"/kohtaamo/{municipality}/{service}",
        type=type_,
        municipality=municipality,
        data=data,
        **extra,
    )
    if not sign:
        return event
    # Signed by the test run's site, as its services sign theirs (kit.signatures).
    from kit.pytest_plugin import SITE_KEY
    from kit.signatures import Signer

    return CloudEvent.model_validate(Signer(SITE_KEY).sealed(event))


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def drain(queue: aio_pika.abc.AbstractQueue, count: int, timeout: float = 10.0) -> list[Any]:
    """Get `count` messages from a queue (acked), as parsed JSON bodies with headers."""
    got: list[Any] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < count:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"got {len(got)} of {count} messages")
            await asyncio.sleep(0.05)
            continue
        try:
            body = json.loads(message.body)
        except ValueError:
            body = message.body
        got.append(
            {
                "body": body,
                "raw": message.body,
                "headers": dict(message.headers or {}),
                "id": message.message_id,
            }
        )
    return got


class TestIssuer:
    """A token issuer for tests: RSA keys with key ids, tokens with any claims, and its
    JWKS as a key source (`service.verifier.trust(issuer.issuer, issuer.jwks)`) or as an
    HTTP app (`issuer.app`, serving /.well-known/jwks.json)."""

    __test__ = False  # not a pytest class

    def __init__(self, issuer: str = "https://identity.test.kohtaamo") -> None:
        self.issuer = issuer
        self.keys: dict[str, Any] = {}
        self.fetches = 0
        self.add_key("k1")

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def public_jwk(self, kid: str) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}

    async def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": [self.public_jwk(kid) for kid in self.keys]}

    @property
    def app(self) -> Any:
        from fastapi import FastAPI

        app = FastAPI()
        app.get("/.well-known/jwks.json")(self.jwks)
        return app

    def token(
        self,
        *,
        sub: str | None = None,
        municipality: str = "helsinki",
        roles: list[str] | None = None,
        kid: str | None = None,
        exp_in: int = 300,
        **claims: Any,
    ) -> str:
        kid = kid or next(iter(self.keys))
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "sub": sub or f"user-{uuid.uuid4().hex[:8]}",
            "aud": "kohtaamo",
            "iat": now,
            "exp": now + exp_in,
            "municipality": municipality,
            "roles": roles if roles is not None else ["resident"],
            **claims,
        }
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def headers(self, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**kwargs)}"}


# Secrets some services require at start; test-only values.
TEST_SECRETS = {
    "KOHTAAMO_PSEUDONYM_KEY": "test-pseudonym-key-not-secret",
    "KOHTAAMO_KEY_ENCRYPTION_SECRET": "test-key-encryption-secret",
}


def trust_env(settings: Any) -> dict[str, str]:
    """Who the run's services are on the broker and how their site signs events."""
    return {
        "KOHTAAMO_BROKER_USER_PREFIX": settings.broker_user_prefix,
        "KOHTAAMO_SITE": settings.site,
        "KOHTAAMO_EVENT_SIGNING_KEY": settings.event_signing_key.get_secret_value(),
        "KOHTAAMO_EVENT_SIGNERS": json.dumps([s.model_dump() for s in settings.event_signers]),
    }


def service_env(settings: Any, **extra: str) -> dict[str, str]:
    """The KOHTAAMO_ environment that points a service (in this process through
    monkeypatch.setenv, or in a child process) at the test run's broker and store."""
    return {
        "KOHTAAMO_AMQP_URL": settings.amqp_url.get_secret_value(),
        "KOHTAAMO_MONGO_URL": settings.mongo_url.get_secret_value(),
        "KOHTAAMO_MONGO_DB_PREFIX": settings.mongo_db_prefix,
        "KOHTAAMO_LOG_FORMAT": "json",
        # Queue arguments must match what in-process services of the run declare.
        "KOHTAAMO_DELIVERY_LIMIT": str(settings.delivery_limit),
        "KOHTAAMO_RETRY_DELAYS_MS": json.dumps(settings.retry_delays_ms),
        "KOHTAAMO_MUNICIPALITY": settings.municipality,
        "KOHTAAMO_MUNICIPALITIES": json.dumps(settings.municipalities),
        **trust_env(settings),
        **TEST_SECRETS,
        **extra,
    }


# A partner site the services under test may trust (`partner_signer`): Espoo's, which runs
# events, bookings and notifications but no identity, speaking for Espoo only.
PARTNER_SITE = "espoo"
_PARTNER_KEY: dict[str, Any] = {}


def partner_key() -> dict[str, Any]:
    if not _PARTNER_KEY:
        from kit.signatures import new_key

        _PARTNER_KEY.update(new_key(PARTNER_SITE, "test"))
    return _PARTNER_KEY


def partner_signer() -> Any:
    """Espoo's site as a trusted partner (`event_signers=[partner_signer()]`)."""
    from kit.signatures import EventSigner, public_jwk

    return EventSigner(
        site=PARTNER_SITE,
        municipalities=[PARTNER_SITE],
        services=["events", "bookings", "notifications"],
        jwks={"keys": [public_jwk(partner_key())]},
    )


def forgeries(
    type_: str, data: dict[str, Any], alter: dict[str, Any]
) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """What an adversary with broker access (or a partner site) would send instead of
    `type_` with `data` for a Helsinki user, published without user_id (as a federation
    link delivers): name -> (dead-letter reason, part of its error, envelope). `alter`:
    the data fields changed after a genuine signature. The consumer must trust
    `partner_signer()` for the partner cases to be what they say."""
    from datetime import UTC, datetime, timedelta

    from kit.pytest_plugin import SITE_KEY
    from kit.signatures import Signer, new_key

    def plain(municipality: str = "helsinki", **extra: Any) -> CloudEvent:
        return envelope(type_, data, municipality=municipality, sign=False, **extra)

    def signed(event: CloudEvent, key: dict[str, Any]) -> dict[str, Any]:
        return Signer(key).sealed(event)

    altered = signed(plain(), SITE_KEY)
    altered["data"] = {**altered["data"], **alter}  # after the signature
    producer = type_.split(".")[1]
    future = datetime.now(UTC) + timedelta(days=365 * 70)
    return {
        "unsigned": ("unauthenticated", "not signed", plain().model_dump(mode="json")),
        # Named like the run's own site's keys, but not one of them.
        "unknown-key": ("unauthenticated", "unknown key", signed(plain(), new_key("test", "x"))),
        "partner-for-another-municipality": (
            "unauthenticated",
            "may not speak for municipality 'helsinki'",
            signed(plain(), partner_key()),
        ),
        "altered-data": ("unauthenticated", "does not match", altered),
        # The partner speaks for its own municipality, but runs no such producer.
        "type-not-allowed": (
            "unauthenticated",
            f"site {PARTNER_SITE} runs no {producer} service",
            signed(plain(PARTNER_SITE), partner_key()),
        ),
        "future-time": (
            "future_time",
            "ahead of this site's clock",
            signed(plain(time=future), SITE_KEY),
        ),
    }


async def publish_raw(
    amqp_url: str, exchange: str, routing_key: str, *docs: dict[str, Any]
) -> None:
    """Publish envelopes as they are, as the broker's administrator (no user_id)."""
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        target = await channel.get_exchange(exchange)
        for doc in docs:
            await target.publish(
                aio_pika.Message(json.dumps(doc).encode(), message_id=str(doc.get("id"))),
                routing_key=routing_key,
            )
    finally:
        await connection.close()


async def dead_letters(
    amqp_url: str, queue: str, ids: set[str], timeout: float = 30.0
) -> dict[str, tuple[str, str]]:
    """The dead letters of `queue` with these message ids: id -> (reason, error). Other
    letters there (earlier tests') are taken off and ignored."""
    from contracts import topology

    found: dict[str, tuple[str, str]] = {}
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        dlq = await channel.declare_queue(topology.dead_letter_queue(queue), passive=True)
        deadline = asyncio.get_running_loop().time() + timeout
        while set(found) < ids:
            message = await dlq.get(no_ack=True, fail=False)
            if message is None:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"dead letters {sorted(ids - set(found))} not there")
                await asyncio.sleep(0.05)
                continue
            if message.message_id in ids:
                headers = message.headers or {}
                found[message.message_id] = (
                    str(headers.get(topology.HEADER_REASON)),
                    str(headers.get(topology.HEADER_ERROR)),
                )
    finally:
        await connection.close()
    return found

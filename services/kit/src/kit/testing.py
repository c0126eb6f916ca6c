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

_PRODUCER_BUSES: dict[tuple[str, str], Any] = {}


async def publish_as_producer(settings: Any, *events: CloudEvent) -> None:
    """Publish events as their producing services do: each through a bus logged in as its
    producer's broker user (on the vhost of `settings`), so consumers see the user_id they
    accept. For tests that stand in for a service that is not running."""
    from kit.bus import Bus
    from kit.pytest_plugin import producer_url

    url = settings.amqp_url.get_secret_value()
    for event in events:
        key = (event.producer, url)
        if key not in _PRODUCER_BUSES:
            bus = Bus(
                settings.model_copy(
                    update={
                        "service": event.producer,
                        "amqp_url": SecretStr(producer_url(url, event.producer)),
                    }
                )
            )
            await bus.connect()
            _PRODUCER_BUSES[key] = bus
        await _PRODUCER_BUSES[key].publish_event(event)


async def close_producer_buses() -> None:
    for bus in _PRODUCER_BUSES.values():
        await bus.stop()
    _PRODUCER_BUSES.clear()


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

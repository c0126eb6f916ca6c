"""Identity under test: one service per run on the run's RabbitMQ vhost and store, called
over ASGI; a queue bound to identity's exchange records everything it publishes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI

from identity import municipality
from identity.core import Identity, identity_of
from identity.main import service
from identity.municipality import MunicipalityIn
from identity.settings import IdentitySettings
from identity.user import SignUp, sign_up
from kit.app import Service
from kit.testing import eventually

from .city import REDIRECT_URI, Browser, ProviderPorts, provider_settings, run_provider

ISSUER = "http://identity.test"
PSEUDONYM_KEY = "test-pseudonym-key-for-identity"
PASSWORD = "correct horse battery"


def identity_settings(make_settings: Callable[..., Any], **overrides: Any) -> IdentitySettings:
    values: dict[str, Any] = {
        "identity_url": ISSUER,
        "pseudonym_key": PSEUDONYM_KEY,
        "key_encryption_secret": "test-key-encryption-secret",
        # Cheap hashing keeps the suite fast; production uses the settings' defaults.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "login_max_failures_per_address_account": 3,
        "login_max_failures_per_account": 6,
        "login_max_failures_per_address": 12,
        "trusted_proxies": [],
        "oidc_redirect_uri": REDIRECT_URI,
        "oidc_post_logout_redirect_uri": REDIRECT_URI,
    }
    values.update(overrides)
    settings: IdentitySettings = make_settings("identity", IdentitySettings, **values)
    return settings


@pytest.fixture(scope="session")
def make_identity_settings(make_settings: Callable[..., Any]) -> Callable[..., IdentitySettings]:
    """Identity's test settings with overrides, for a test that starts services of its own."""
    return lambda **overrides: identity_settings(make_settings, **overrides)


@pytest.fixture(scope="session")
def provider_ports() -> ProviderPorts:
    return ProviderPorts.choose()


@pytest.fixture(scope="session")
async def oidc_provider(provider_ports: ProviderPorts) -> AsyncIterator[str]:
    """Helsinki's city login: a real oidc-provider process (started on first use)."""
    async with run_provider(provider_ports.city) as base:
        yield base


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    person = Browser()
    yield person
    await person.close()


@pytest.fixture(scope="session")
async def served(
    make_settings: Callable[..., Any], provider_ports: ProviderPorts
) -> AsyncIterator[tuple[Service, FastAPI]]:
    """The service, started, and its app (the ASGI transport runs no lifespan)."""
    settings = identity_settings(make_settings, oidc_providers=provider_settings(provider_ports))
    service_ = service(settings)
    app_ = service_.create_app()
    await service_.start()
    ctx = identity_of(service_)
    for slug, name in (
        ("helsinki", "Helsinki"),
        ("kouvola", "Kouvola"),
        ("oidc-other", "Other"),
        ("oidc-late", "Late"),
    ):
        await municipality.ensure(ctx, MunicipalityIn(slug=slug, name={"fi": name}))
    yield service_, app_
    await service_.stop()


@pytest.fixture(scope="session")
def svc(served: tuple[Service, FastAPI]) -> Service:
    return served[0]


@pytest.fixture(scope="session")
def app(served: tuple[Service, FastAPI]) -> FastAPI:
    return served[1]


@pytest.fixture(scope="session")
def ctx(svc: Service) -> Identity:
    return identity_of(svc)


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client_:
        yield client_


class Published:
    """Every event identity published during the run, as parsed envelopes."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def of(self, type_: str, **data: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == type_ and all(e["data"].get(k) == v for k, v in data.items())
        ]

    async def wait(self, type_: str, count: int = 1, **data: Any) -> list[dict[str, Any]]:
        async def arrived() -> bool:
            return len(self.of(type_, **data)) >= count

        await eventually(arrived)
        return self.of(type_, **data)


@pytest.fixture(scope="session")
async def published(svc: Service, amqp_url: str) -> AsyncIterator[Published]:
    record = Published()
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(f"identity-test-{uuid.uuid4().hex[:6]}", exclusive=True)
    await queue.bind("kohtaamo.identity.events", routing_key="identity.#")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        record.events.append(json.loads(message.body))
        await message.ack()

    await queue.consume(on_message)
    yield record
    await connection.close()


@pytest.fixture
def email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.fi"


@pytest.fixture
def signup(client: httpx.AsyncClient) -> Callable[..., Any]:
    """Sign a resident up over HTTP: their user, tokens, email and auth headers."""
    return lambda municipality_="helsinki", **extra: _signup(client, municipality_, **extra)


@pytest.fixture
def staff_user(ctx: Identity, client: httpx.AsyncClient) -> Callable[..., Any]:
    """A user with the given roles, created directly as seeding does."""
    return lambda roles, municipality_="helsinki": _staff_user(ctx, roles, municipality_)


async def _signup(
    client: httpx.AsyncClient, municipality_: str = "helsinki", **extra: Any
) -> dict[str, Any]:
    body = {
        "municipality": municipality_,
        "email": f"user-{uuid.uuid4().hex[:10]}@example.fi",
        "password": PASSWORD,
        "display_name": "Testi Käyttäjä",
        "accept_terms": True,
        **extra,
    }
    response = await client.post("/auth/signup", json=body)
    assert response.status_code == 201, response.text
    out = response.json()
    out["email"] = body["email"]
    out["headers"] = bearer(out["tokens"]["access_token"])
    answer: dict[str, Any] = out
    return answer


async def _staff_user(ctx: Identity, roles: list[str], municipality_: str) -> dict[str, Any]:
    mail = f"staff-{uuid.uuid4().hex[:10]}@example.fi"
    data = SignUp(
        municipality=municipality_,
        email=mail,
        password=PASSWORD,
        display_name="Henkilökunta",
        accept_terms=True,
    )
    user, pair = await sign_up(ctx, data, roles=roles)
    return {"user": {"id": user["_id"]}, "headers": bearer(pair.access_token), "email": mail}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

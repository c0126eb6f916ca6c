"""A trusted bus, on the real broker with the run's service users: RabbitMQ refuses a
service's user writing to another service's exchange; a consumer refuses, dead-letters
with its reason and applies nothing of a forged envelope (a foreign user_id, unsigned, an
unknown key, a partner speaking for another municipality or through a service it does not
run, altered data, a source that is not the producer's, a future time); keys rotate while
a stream flows with nothing refused and nothing applied twice."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused

from contracts import CloudEvent, Payload, register, topology
from kit.app import Service
from kit.bus import Bus
from kit.consumer import Delivery
from kit.pytest_plugin import SITE_KEY
from kit.signatures import EventSigner, SignatureVerifier, Signer, new_key, public_jwk
from kit.testing import drain, envelope, eventually, publish_as_producer

TYPE = "kohtaamo.kitid.user.erased.v1"  # produced by "kitid", as identity's erasures are
QUEUE = "kohtaamo.kitguard.erasures"
KOUVOLA_KEY = new_key("kouvola", "1")
ESPOO_KEY = new_key("espoo", "1")


@register(TYPE)
class UserErased(Payload):
    user_id: str


@pytest.fixture(scope="module")
async def guard(make_settings: Callable[..., Any]) -> AsyncIterator[Service]:
    """A Helsinki site's consumer of kitid's erasures, trusting Kouvola's site for Kouvola
    (through its events service only)."""
    kouvola = EventSigner(
        site="kouvola",
        municipalities=["kouvola"],
        services=["events", "kitid"],
        jwks={"keys": [public_jwk(KOUVOLA_KEY)]},
    )
    # Espoo's site runs events only: it may say nothing as kitid (as Kouvola as identity).
    espoo = EventSigner(
        site="espoo",
        municipalities=["espoo"],
        services=["events"],
        jwks={"keys": [public_jwk(ESPOO_KEY)]},
    )
    settings = make_settings(
        "kitguard", municipalities=["helsinki", "kouvola"], event_signers=[kouvola, espoo]
    )
    svc = Service("kitguard", settings=settings)

    @svc.consumer("erasures", [TYPE])
    async def on_erased(delivery: Delivery[UserErased]) -> None:
        await svc.store.db.erased.insert_one(
            {"_id": delivery.event.id, "user_id": delivery.data.user_id},
            session=delivery.session,
        )

    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture(scope="module")
async def channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """The administrator's channel (no user_id: what a federation link delivers)."""
    connection = await aio_pika.connect_robust(amqp_url)
    yield await connection.channel()
    await connection.close()


async def send(channel: aio_pika.abc.AbstractChannel, document: dict[str, Any]) -> None:
    exchange = await channel.get_exchange(topology.exchange("kitid"))
    await exchange.publish(
        aio_pika.Message(json.dumps(document).encode(), message_id=str(document.get("id"))),
        routing_key=topology.routing_key(TYPE),
    )


def erased(user: str, *, municipality: str = "helsinki", **extra: Any) -> dict[str, Any]:
    return envelope(
        TYPE, {"user_id": user}, municipality=municipality, sign=False, **extra
    ).model_dump(mode="json")


def signed(document: dict[str, Any], key: dict[str, Any] = SITE_KEY) -> dict[str, Any]:
    return Signer(key).sealed(CloudEvent.model_validate(document))


async def test_a_service_user_cannot_publish_to_another_service_exchange(
    make_settings: Callable[..., Any],
) -> None:
    bus = Bus(make_settings("kitrogue"))
    await bus.connect()
    try:
        with pytest.raises(ChannelAccessRefused, match=r"kohtaamo\.kitid\.events"):
            await bus.publish(b"{}", exchange=topology.exchange("kitid"), routing_key="kitid.x.v1")
    finally:
        await bus.stop()


async def test_a_service_user_cannot_set_another_user_id(
    make_settings: Callable[..., Any],
) -> None:
    settings = make_settings("kitid")
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.exchange("kitid"))
        with pytest.raises(Exception, match="PRECONDITION_FAILED"):
            await exchange.publish(
                aio_pika.Message(b"{}", user_id="kohtaamo-identity"), routing_key="kitid.x.v1"
            )
    finally:
        await connection.close()


def forgeries() -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    other_site = new_key("test", "forger")  # named like this site's keys, unknown to it
    future = datetime.now(UTC) + timedelta(days=365 * 70)

    def altered() -> dict[str, Any]:
        document = signed(erased("victim-altered"))
        document["data"]["user_id"] = "victim"
        return document

    return {
        "unsigned": ("not signed", lambda: erased("victim")),
        "unknown-key": ("unknown key", lambda: signed(erased("victim"), other_site)),
        "partner-for-helsinki": (
            "may not speak for municipality 'helsinki'",
            lambda: signed(erased("victim"), KOUVOLA_KEY),
        ),
        "partner-through-a-service-it-does-not-run": (
            "site espoo runs no kitid service",
            lambda: signed(erased("victim", municipality="espoo"), ESPOO_KEY),
        ),
        "altered-data": ("does not match", altered),
        "source-not-producer": (
            "is not /kohtaamo/helsinki/kitid",
            lambda: signed({**erased("victim"), "source": "/kohtaamo/helsinki/events"}),
        ),
        "future-time": (
            "ahead of this site's clock",
            lambda: signed(erased("victim", time=future)),
        ),
    }


@pytest.mark.parametrize("name", list(forgeries()))
async def test_forged_envelopes_are_dead_lettered_and_change_nothing(
    guard: Service, channel: aio_pika.abc.AbstractChannel, name: str
) -> None:
    error, forge = forgeries()[name]
    document = forge()
    await send(channel, document)
    # A genuine one after it (a Kouvola user's, signed by Kouvola's site) is applied.
    genuine = signed(erased("kvl-user", municipality="kouvola"), KOUVOLA_KEY)
    await send(channel, genuine)

    async def applied() -> bool:
        return await guard.store.db.erased.find_one({"_id": genuine["id"]}) is not None

    await eventually(applied)
    dlq = await channel.declare_queue(topology.dead_letter_queue(QUEUE), passive=True)
    [letter] = await drain(dlq, 1)
    reason = "future_time" if name == "future-time" else "unauthenticated"
    assert letter["headers"][topology.HEADER_REASON] == reason
    assert error in letter["headers"][topology.HEADER_ERROR]
    assert letter["id"] == document["id"]
    assert await guard.store.db.erased.count_documents({"user_id": "victim"}) == 0


async def test_a_message_from_another_service_user_is_refused(
    guard: Service, make_settings: Callable[..., Any], channel: aio_pika.abc.AbstractChannel
) -> None:
    # kitid's type with another service's user_id (the guard's queue bound to that
    # service's exchange, as a careless binding would do): refused.
    rogue = Bus(make_settings("kitrogue"))
    await rogue.connect()
    try:
        await rogue.declare_exchange(topology.exchange("kitrogue"))
        queue = await channel.declare_queue(QUEUE, passive=True)
        await queue.bind(topology.exchange("kitrogue"), routing_key="kitid.#")
        event = envelope(TYPE, {"user_id": "victim"})
        await rogue.publish(
            json.dumps(event.model_dump(mode="json")).encode(),
            exchange=topology.exchange("kitrogue"),
            routing_key=event.routing_key,
            message_id=event.id,
        )
        dlq = await channel.declare_queue(topology.dead_letter_queue(QUEUE), passive=True)
        [letter] = await drain(dlq, 1)
        assert letter["headers"][topology.HEADER_REASON] == "unauthenticated"
        assert "may not publish" in letter["headers"][topology.HEADER_ERROR]
        await queue.unbind(topology.exchange("kitrogue"), routing_key="kitid.#")
    finally:
        await rogue.stop()
    assert await guard.store.db.erased.count_documents({"user_id": "victim"}) == 0


async def test_a_type_through_another_exchange_is_refused(
    guard: Service, channel: aio_pika.abc.AbstractChannel
) -> None:
    # Signed by this site, no user_id, but brought by another service's exchange (the
    # guard's queue bound there too): only the producer's exchange may bring its types.
    exchange = await channel.declare_exchange("kohtaamo.kitother.events", "topic", durable=True)
    queue = await channel.declare_queue(QUEUE, passive=True)
    await queue.bind(exchange, routing_key="kitid.#")
    document = signed(erased("victim"))
    await exchange.publish(
        aio_pika.Message(json.dumps(document).encode()), routing_key=topology.routing_key(TYPE)
    )
    dlq = await channel.declare_queue(topology.dead_letter_queue(QUEUE), passive=True)
    [letter] = await drain(dlq, 1)
    await queue.unbind(exchange, routing_key="kitid.#")
    assert letter["headers"][topology.HEADER_REASON] == "unauthenticated"
    assert "came through 'kohtaamo.kitother.events'" in letter["headers"][topology.HEADER_ERROR]
    assert await guard.store.db.erased.count_documents({"user_id": "victim"}) == 0


async def test_the_site_publishes_its_event_keys(guard: Service) -> None:
    import httpx

    transport = httpx.ASGITransport(app=guard.create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://guard") as client:
        response = await client.get("/.well-known/event-keys.json")
    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert key["kid"] == SITE_KEY["kid"] and "d" not in key


async def test_the_producer_user_is_believed_without_a_signature(guard: Service) -> None:
    event = envelope(TYPE, {"user_id": "local"}, sign=False)
    await publish_as_producer(guard.settings, event)

    async def applied() -> bool:
        return await guard.store.db.erased.find_one({"_id": event.id}) is not None

    await eventually(applied)


async def test_keys_rotate_while_a_stream_flows(
    make_settings: Callable[..., Any], channel: aio_pika.abc.AbstractChannel
) -> None:
    """Step one of a rotation is done (the next key is in the site's JWKS); the stream's
    signer switches to it half way: nothing refused, nothing applied twice."""
    old, new = new_key("rotating", "1"), new_key("rotating", "2")
    settings = make_settings(
        "kitrotate",
        site="rotating",
        event_signing_key=json.dumps(old),
        event_site_jwks={"keys": [public_jwk(new)]},
    )
    svc = Service("kitrotate", settings=settings)
    queue = "kohtaamo.kitrotate.erasures"

    @svc.consumer("erasures", [TYPE])
    async def on_erased(delivery: Delivery[UserErased]) -> None:
        await svc.store.db.erased.insert_one({"_id": delivery.event.id}, session=delivery.session)

    await svc.start()
    try:
        ids = []
        for i in range(120):
            key = old if i < 60 else new
            document = signed(erased(f"u{i}"), key)
            ids.append(document["id"])
            await send(channel, document)
            if i % 30 == 0:
                await send(channel, document)  # a redelivery: applied once

        async def all_applied() -> bool:
            return await svc.store.db.erased.count_documents({}) == len(ids)

        await eventually(all_applied, timeout=30)
        counts = await svc.admin.queue_counts(topology.dead_letter_queue(queue))
        assert counts is not None and counts[0] == 0
    finally:
        await svc.stop()


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A partner's JWKS over HTTP (a real server on a free port)."""
    published: dict[str, Any] = {"keys": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(published).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/event-keys.json", published
    server.shutdown()


async def test_a_partner_key_published_later_is_fetched_on_first_use(
    jwks_server: tuple[str, dict[str, Any]],
) -> None:
    url, published = jwks_server
    first, second = new_key("kouvola", "1"), new_key("kouvola", "2")
    published["keys"] = [public_jwk(first)]
    verifier = SignatureVerifier(
        [EventSigner(site="kouvola", municipalities=["kouvola"], jwks_url=url)], min_refresh_s=0
    )
    await verifier.refresh(force=True)
    assert verifier.key_ids == ["kouvola:1"]
    published["keys"].append(public_jwk(second))  # the partner rotates
    assert await verifier.refresh()
    assert verifier.key_ids == ["kouvola:1", "kouvola:2"]
    # A key that names another site is never taken from this site's JWKS.
    published["keys"].append(public_jwk(new_key("helsinki", "9")))
    await verifier.refresh()
    assert "helsinki:9" not in verifier.key_ids


def test_latest_wins_time_is_never_later_than_the_arrival() -> None:
    """Delivery.time, what latest-wins handlers order by: the envelope's time, but one
    dated ahead of this site's clock (admitted within the skew) counts from its arrival."""
    received = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    def at(sent: datetime) -> datetime:
        event = envelope("kohtaamo.kitid.user.erased.v1", {}, sign=False, time=sent)
        return Delivery(event=event, data={}, session=None, received_at=received).time

    assert at(received + timedelta(seconds=299)) == received
    assert at(received - timedelta(seconds=5)) == received - timedelta(seconds=5)
    # A naive time is UTC, as the consumer's skew check takes it.
    assert at(datetime(2026, 12, 6, 11, 0)) == datetime(2026, 12, 6, 11, 0, tzinfo=UTC)
    assert at(datetime(2026, 12, 6, 13, 0)) == received

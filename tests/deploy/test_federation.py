"""Federation between two sites on the real broker: two virtual hosts stand for Kouvola's
and Helsinki's brokers, each loaded with its site's definitions (users with their
least-privilege permissions, upstreams, policies) through deploy/rabbitmq/apply.py. An
event Kouvola's events service publishes reaches a queue bound at Helsinki (as analytics'
queue is); an exchange the policy does not cover stays at home; identity's exchange flows
the other way."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from typing import Any
from urllib.parse import quote

import aio_pika
import pytest

from kit.bus import Bus
from kit.settings import KitSettings
from kit.testing import envelope

from .conftest import DEPLOY, Broker, ctl, site_definitions

# Both sites name their services user alike; in one broker that is one user, one password.
pytestmark = pytest.mark.broker

PASSWORDS = {
    "helsinki": {"kohtaamo-services": "svc", "federation-kouvola": "hki-fed"},
    "kouvola": {"kohtaamo-services": "svc", "federation-helsinki": "kvl-fed"},
}


def url(user: str, password: str, vhost: str) -> str:
    return f"amqp://{user}:{password}@127.0.0.1:5672/{quote(vhost, safe='')}"


@pytest.fixture(scope="module")
def federation_plugin() -> None:
    """CI starts from a clean broker (scripts/ensure-rabbitmq.sh enables it too). Enabling
    a plugin on a running node does not restart it."""
    exe = shutil.which("rabbitmq-plugins")
    if exe is None:
        pytest.skip("rabbitmq-plugins is not installed")
    # federation_status exists only while the plugin runs: a cheaper check than enabling.
    if ctl("federation_status", check=False).returncode != 0:
        subprocess.run([exe, "-q", "enable", "rabbitmq_federation"], check=True, timeout=120)


async def receive(queue: aio_pika.abc.AbstractQueue, timeout: float) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.1)
    return None


async def until_linked(
    channel: aio_pika.abc.AbstractChannel,
    exchange: str,
    routing_key: str,
    arrivals: aio_pika.abc.AbstractQueue,
) -> None:
    """Publish probes upstream until one arrives downstream: the link is up and bound.
    (A probe sent before the link bound its queue upstream is simply unroutable there.)"""
    target = await channel.get_exchange(exchange)
    for _ in range(60):
        probe = uuid.uuid4().hex
        await target.publish(aio_pika.Message(probe.encode()), routing_key=routing_key)
        message = await receive(arrivals, 1.0)
        if message is not None:
            # Drain probes that were in flight, so the test's own messages come next.
            while await receive(arrivals, 0.5) is not None:
                pass
            return
    raise AssertionError(f"federation of {exchange} did not come up")


async def test_kouvola_events_reach_helsinki_and_identity_reaches_kouvola(
    federation_plugin: None, broker: Broker
) -> None:
    hki, kvl = broker.vhost("helsinki"), broker.vhost("kouvola")
    run = broker.run
    # Each site's upstream URI names the partner's federation user and its vhost.
    helsinki, hki_users = site_definitions(
        DEPLOY / "sites" / "helsinki" / "rabbitmq.site.json",
        broker,
        vhost=hki,
        passwords=PASSWORDS["helsinki"],
        env={"KOHTAAMO_FEDERATION_KOUVOLA_URI": url(f"federation-helsinki-{run}", "kvl-fed", kvl)},
    )
    kouvola, kvl_users = site_definitions(
        DEPLOY / "sites" / "kouvola" / "rabbitmq.site.json",
        broker,
        vhost=kvl,
        passwords=PASSWORDS["kouvola"],
        env={"KOHTAAMO_FEDERATION_HELSINKI_URI": url(f"federation-kouvola-{run}", "hki-fed", hki)},
    )
    assert kvl_users["federation-helsinki"] == f"federation-helsinki-{run}"
    assert hki_users["federation-kouvola"] == f"federation-kouvola-{run}"
    broker.load(kouvola)
    broker.load(helsinki)

    at_hki = await aio_pika.connect(url(hki_users["kohtaamo-services"], "svc", hki))
    at_kvl = await aio_pika.connect(url(kvl_users["kohtaamo-services"], "svc", kvl))
    kouvola_bus = Bus(
        KitSettings(service="events", amqp_url=url(kvl_users["kohtaamo-services"], "svc", kvl))
    )
    try:
        hki_channel, kvl_channel = await at_hki.channel(), await at_kvl.channel()
        # What analytics does at Helsinki: a queue bound to events' and bookings' exchanges.
        facts = await hki_channel.declare_queue("kohtaamo.deploycheck.facts", exclusive=True)
        await facts.bind("kohtaamo.events.events", routing_key="events.#")
        await facts.bind("kohtaamo.bookings.events", routing_key="bookings.#")
        # An exchange no federation policy covers at Helsinki.
        notices = await hki_channel.declare_queue("kohtaamo.deploycheck.notices", exclusive=True)
        await notices.bind("kohtaamo.notifications.events", routing_key="#")
        # What notifications does at Kouvola: identity's users from Helsinki.
        contacts = await kvl_channel.declare_queue("kohtaamo.deploycheck.contacts", exclusive=True)
        await contacts.bind("kohtaamo.identity.events", routing_key="identity.#")

        await until_linked(kvl_channel, "kohtaamo.events.events", "events.probe.v1", facts)
        await until_linked(kvl_channel, "kohtaamo.bookings.events", "bookings.probe.v1", facts)
        await until_linked(hki_channel, "kohtaamo.identity.events", "identity.probe.v1", contacts)

        # Uncovered first: by the time the covered event below has arrived, this one would
        # have had every chance to arrive as well.
        notice_exchange = await kvl_channel.get_exchange("kohtaamo.notifications.events")
        await notice_exchange.publish(
            aio_pika.Message(b'{"stays":"home"}'), routing_key="notifications.notice.sent.v1"
        )

        # Kouvola's events service publishes as the kit does: persistent, confirmed and
        # mandatory. Kouvola runs no consumer of it; the federation link's binding is what
        # makes it routable there.
        await kouvola_bus.connect()
        event = envelope(
            "kohtaamo.events.registration.confirmed.v1",
            {"registration_id": "r-1", "event_id": "e-1"},
            municipality="kouvola",
        )
        await kouvola_bus.publish_event(event)
        booking = envelope(
            "kohtaamo.bookings.booking.confirmed.v1", {"booking_id": "b-1"}, municipality="kouvola"
        )
        await kouvola_bus.publish_event(booking)

        arrived = [await receive(facts, 15.0), await receive(facts, 15.0)]
        assert all(arrived), "Kouvola's events did not reach Helsinki"
        bodies = {json.loads(m.body)["id"]: json.loads(m.body) for m in arrived}
        assert set(bodies) == {event.id, booking.id}
        assert bodies[event.id]["municipality"] == "kouvola"
        assert {m.routing_key for m in arrived} == {
            "events.registration.confirmed.v1",
            "bookings.booking.confirmed.v1",
        }
        assert await receive(notices, 1.5) is None, "an uncovered exchange was federated"

        user = envelope("kohtaamo.identity.user.registered.v1", {"user_id": "u-1"})
        identity = await hki_channel.get_exchange("kohtaamo.identity.events")
        await identity.publish(
            aio_pika.Message(user.model_dump_json().encode(), message_id=user.id),
            routing_key="identity.user.registered.v1",
        )
        got = await receive(contacts, 15.0)
        assert got is not None and got.message_id == user.id
        # Max hops 1: what Kouvola received from Helsinki is not sent back.
        assert await receive(facts, 0.5) is None
    finally:
        await kouvola_bus.stop()
        await at_hki.close()
        await at_kvl.close()

"""Federation between two sites on the real broker: two virtual hosts stand for Kouvola's
and Helsinki's brokers, each loaded with its site's definitions (users with their
least-privilege permissions, upstreams, policies) through deploy/rabbitmq/apply.py. An
event Kouvola's events service publishes reaches a queue bound at Helsinki (as analytics'
queue is); an exchange the policy does not cover stays at home; identity's exchange flows
the other way. At Helsinki, kit consumers configured as the site configures its services
apply what they should of Kouvola's messages: network-wide analytics its events, identity
every Kouvola service's erasure answer, while the others ignore them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aio_pika
import httpx
import pytest
from aiormq.exceptions import ChannelAccessRefused
from prometheus_client import REGISTRY
from pydantic import BaseModel

from contracts import bookings, events, identity, notifications, topology
from kit import localstore
from kit.app import Service
from kit.bus import Bus
from kit.consumer import Delivery, Handler
from kit.pytest_plugin import SITE, SITE_KEY, base_url
from kit.rabbit_env import with_credentials
from kit.settings import KitSettings
from kit.signatures import EventSigner, new_key, public_jwk
from kit.testing import drain, envelope, eventually, publish_as_producer, service_env
from kit.trace_receiver import TraceReceiver

from .conftest import DEPLOY, Broker, ctl, pod_config, render, site_definitions

APPS = Path(__file__).parents[1] / "apps"
# Both sites name their services' users alike; in one broker that is one user, one password.
pytestmark = pytest.mark.broker

SERVICES = {
    "helsinki": ["identity", "events", "bookings", "notifications", "analytics", "gateway"],
    "kouvola": ["events", "bookings", "notifications", "gateway"],
}
PASSWORDS = {
    "helsinki": {
        **{f"kohtaamo-{s}": f"svc-{s}" for s in SERVICES["helsinki"]},
        "federation-kouvola": "hki-fed",
    },
    "kouvola": {
        **{f"kohtaamo-{s}": f"svc-{s}" for s in SERVICES["kouvola"]},
        "federation-helsinki": "kvl-fed",
    },
}


# Kouvola's site signs its events with its own key; Helsinki's is the test run's site key.
KOUVOLA_KEY = new_key("kouvola", "1")
KOUVOLA_SERVICES = ["events", "bookings", "notifications"]
# Helsinki trusts Kouvola's site for Kouvola, through the services Kouvola runs.
KOUVOLA = EventSigner(
    site="kouvola",
    municipalities=["kouvola"],
    services=KOUVOLA_SERVICES,
    jwks={"keys": [public_jwk(KOUVOLA_KEY)]},
)
# Kouvola trusts Helsinki's site, whose identity serves Kouvola's users too.
HELSINKI = EventSigner(
    site=SITE,
    municipalities=["helsinki", "kouvola"],
    services=["identity"],
    jwks={"keys": [public_jwk(SITE_KEY)]},
)


def kouvola_bus_at(amqp_url: str, service: str = "events") -> Bus:
    """A service of Kouvola's (its own broker user), signing as Kouvola's site."""
    return Bus(
        KitSettings(
            service=service,
            amqp_url=amqp_url,
            site="kouvola",
            event_signing_key=json.dumps(KOUVOLA_KEY),
        )
    )


def url(user: str, password: str, vhost: str) -> str:
    # The run's broker (KOHTAAMO_TEST_AMQP_URL may name another node than the default).
    host = urlsplit(base_url()).netloc.rsplit("@", 1)[-1]
    return f"amqp://{user}:{password}@{host}/{quote(vhost, safe='')}"


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


@dataclass
class Sites:
    """Each service's broker URL (its own user of the site's file) at each site."""

    helsinki: dict[str, str]
    kouvola: dict[str, str]


def load_sites(broker: Broker) -> Sites:
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
    return Sites(
        helsinki={
            s: url(hki_users[f"kohtaamo-{s}"], f"svc-{s}", hki) for s in SERVICES["helsinki"]
        },
        kouvola={s: url(kvl_users[f"kohtaamo-{s}"], f"svc-{s}", kvl) for s in SERVICES["kouvola"]},
    )


async def channels(stack: AsyncExitStack, urls: dict[str, str]) -> dict[str, Any]:
    """A channel as each service of a site (what its broker user may do)."""
    opened = {}
    for service, address in urls.items():
        connection = await aio_pika.connect(address)
        stack.push_async_callback(connection.close)
        opened[service] = await connection.channel()
    return opened


async def test_kouvola_events_reach_helsinki_and_identity_reaches_kouvola(
    federation_plugin: None, broker: Broker
) -> None:
    sites = load_sites(broker)
    async with AsyncExitStack() as stack:
        hki, kvl = await channels(stack, sites.helsinki), await channels(stack, sites.kouvola)
        kouvola_bus = kouvola_bus_at(sites.kouvola["events"])
        bookings_bus = kouvola_bus_at(sites.kouvola["bookings"], "bookings")
        stack.push_async_callback(kouvola_bus.stop)
        stack.push_async_callback(bookings_bus.stop)
        # What analytics does at Helsinki: a queue bound to events' and bookings' exchanges.
        facts = await hki["analytics"].declare_queue(
            "kohtaamo.analytics.deploycheck-facts", exclusive=True
        )
        await facts.bind("kohtaamo.events.events", routing_key="events.#")
        await facts.bind("kohtaamo.bookings.events", routing_key="bookings.#")
        # An exchange no federation policy covers at Helsinki (every site's gateway has one).
        stays = await hki["analytics"].declare_queue(
            "kohtaamo.analytics.deploycheck-stays", exclusive=True
        )
        await stays.bind("kohtaamo.gateway.events", routing_key="#")
        # What notifications does at Kouvola: identity's users from Helsinki.
        contacts = await kvl["notifications"].declare_queue(
            "kohtaamo.notifications.deploycheck-contacts", exclusive=True
        )
        await contacts.bind("kohtaamo.identity.events", routing_key="identity.#")

        await until_linked(kvl["events"], "kohtaamo.events.events", "events.probe.v1", facts)
        await until_linked(kvl["bookings"], "kohtaamo.bookings.events", "bookings.probe.v1", facts)
        await until_linked(
            hki["identity"], "kohtaamo.identity.events", "identity.probe.v1", contacts
        )

        # Uncovered first: by the time the covered event below has arrived, this one would
        # have had every chance to arrive as well.
        home_exchange = await kvl["gateway"].get_exchange("kohtaamo.gateway.events")
        await home_exchange.publish(
            aio_pika.Message(b'{"stays":"home"}'), routing_key="gateway.something.v1"
        )

        # Kouvola's events service publishes as the kit does: persistent, confirmed and
        # mandatory. Kouvola runs no consumer of it; the federation link's binding is what
        # makes it routable there.
        await kouvola_bus.connect()
        await bookings_bus.connect()
        event = envelope(
            "kohtaamo.events.registration.confirmed.v1",
            {"registration_id": "r-1", "event_id": "e-1"},
            municipality="kouvola",
        )
        await kouvola_bus.publish_event(event)
        booking = envelope(
            "kohtaamo.bookings.booking.confirmed.v1", {"booking_id": "b-1"}, municipality="kouvola"
        )
        await bookings_bus.publish_event(booking)

        arrived = [await receive(facts, 15.0), await receive(facts, 15.0)]
        assert all(arrived), "Kouvola's events did not reach Helsinki"
        bodies = {json.loads(m.body)["id"]: json.loads(m.body) for m in arrived}
        assert set(bodies) == {event.id, booking.id}
        assert bodies[event.id]["municipality"] == "kouvola"
        assert {m.routing_key for m in arrived} == {
            "events.registration.confirmed.v1",
            "bookings.booking.confirmed.v1",
        }
        assert await receive(stays, 1.5) is None, "an uncovered exchange was federated"

        user = envelope("kohtaamo.identity.user.registered.v1", {"user_id": "u-1"})
        identity = await hki["identity"].get_exchange("kohtaamo.identity.events")
        await identity.publish(
            aio_pika.Message(user.model_dump_json().encode(), message_id=user.id),
            routing_key="identity.user.registered.v1",
        )
        got = await receive(contacts, 15.0)
        assert got is not None and got.message_id == user.id
        # Max hops 1: what Kouvola received from Helsinki is not sent back.
        assert await receive(facts, 0.5) is None


def site_settings(
    make_settings: Callable[..., Any],
    docs: list[dict[str, Any]],
    service: str,
    site_urls: dict[str, str],
    **overrides: Any,
) -> KitSettings:
    """Kit settings for a stand-in of `service` as the site's overlay configures it (its
    municipalities), on the test's broker vhost and store."""
    amqp_url = next(iter(site_urls.values()))
    config = pod_config(docs, service)
    # The site's vhost as the run's user of the stand-in (not the site file's user).
    admin = urlsplit(base_url())
    settings: KitSettings = make_settings(
        f"fed{service}",
        amqp_url=with_credentials(amqp_url, admin.username or "guest", admin.password or ""),
        municipality=config["KOHTAAMO_MUNICIPALITY"],
        municipalities=config["KOHTAAMO_MUNICIPALITIES"],
        site_municipalities=config.get("KOHTAAMO_SITE_MUNICIPALITIES", ""),
        **{"event_signers": [KOUVOLA], **overrides},
    )
    return settings


def queue_of(svc: Service, purpose: str) -> str:
    """The queue of a stand-in's consumer (every service also has the kit's own)."""
    return next(c.queue for c in svc.consumers if c.purpose == purpose)


def consumed(service: str, queue: str, outcome: str) -> float:
    labels = {"service": service, "queue": queue, "outcome": outcome}
    return REGISTRY.get_sample_value("kohtaamo_messages_consumed_total", labels) or 0.0


ANSWERS = [events.ERASURE_COMPLETED, bookings.ERASURE_COMPLETED, notifications.ERASURE_COMPLETED]


async def test_helsinki_acts_on_federated_kouvola_messages_only_where_it_should(
    federation_plugin: None, broker: Broker, make_settings: Callable[..., Any]
) -> None:
    sites = load_sites(broker)
    helsinki = render("helsinki")
    # Sets: a transaction that conflicts with a concurrent one runs its handler again.
    seen: dict[str, set[str]] = {"analytics": set(), "notifications": set(), "identity": set()}

    def recorder(name: str) -> Handler:
        async def record(delivery: Delivery[Any]) -> None:
            seen[name].add(f"{delivery.event.municipality}:{delivery.event.type}")

        return record

    # Stand-ins for Helsinki's services, configured as the Helsinki overlay configures them.
    analytics = Service(
        "fedanalytics", settings=site_settings(make_settings, helsinki, "analytics", sites.helsinki)
    )
    analytics.consumer("events", [events.EVENT_CANCELLED], network=True)(recorder("analytics"))
    notices = Service(
        "fednotifications",
        settings=site_settings(make_settings, helsinki, "notifications", sites.helsinki),
    )
    notices.consumer("events", [events.EVENT_CANCELLED])(recorder("notifications"))
    identity = Service(
        "fedidentity", settings=site_settings(make_settings, helsinki, "identity", sites.helsinki)
    )
    identity.consumer("erasures", ANSWERS)(recorder("identity"))
    # Kouvola's services, each as its own user, signing as Kouvola's site.
    kouvola_buses = {s: kouvola_bus_at(sites.kouvola[s], s) for s in KOUVOLA_SERVICES}
    async with AsyncExitStack() as stack:
        for svc in (analytics, notices, identity):
            await svc.start()
            stack.push_async_callback(svc.stop)
        for bus in kouvola_buses.values():
            stack.push_async_callback(bus.stop)
        hki, kvl = await channels(stack, sites.helsinki), await channels(stack, sites.kouvola)
        probes = await hki["analytics"].declare_queue(
            "kohtaamo.analytics.deploycheck-probes", exclusive=True
        )
        for service in KOUVOLA_SERVICES:
            await probes.bind(f"kohtaamo.{service}.events", routing_key=f"{service}.probe.v1")
        for service in KOUVOLA_SERVICES:
            await until_linked(
                kvl[service], f"kohtaamo.{service}.events", f"{service}.probe.v1", probes
            )

        notices_queue = queue_of(notices, "events")
        foreign_before = consumed("fednotifications", notices_queue, "foreign")
        cancelled = {
            "event_id": "e-1",
            "title": {"fi": "Työpaja"},
            "starts_at": "2026-12-01T10:00:00Z",
        }
        for bus in kouvola_buses.values():
            await bus.connect()
        # Kouvola's events service cancels a Kouvola event; Kouvola's events, bookings and
        # notifications answer the erasure of a Kouvola user (Helsinki's identity asked).
        await kouvola_buses["events"].publish_event(
            envelope(events.EVENT_CANCELLED, cancelled, municipality="kouvola")
        )
        for answer in ANSWERS:
            await kouvola_buses[topology.producer_of(answer)].publish_event(
                envelope(answer, {"user_id": "u-kvl", "records_erased": 1}, municipality="kouvola")
            )
        # And one of Helsinki's own, which Helsinki's notifications does act on.
        await publish_as_producer(
            notices.settings, envelope(events.EVENT_CANCELLED, cancelled, municipality="helsinki")
        )

        async def arrived() -> bool:
            return (
                len(seen["identity"]) == len(ANSWERS)
                and len(seen["analytics"]) == 2
                and len(seen["notifications"]) == 1
                and consumed("fednotifications", notices_queue, "foreign") == foreign_before + 1
            )

        try:
            await eventually(arrived, timeout=30)
        except AssertionError as exc:
            raise AssertionError(f"handled at Helsinki: {seen}") from exc
        # Network-wide analytics applies Kouvola's event; notifications only Helsinki's.
        assert sorted(seen["analytics"]) == [
            f"helsinki:{events.EVENT_CANCELLED}",
            f"kouvola:{events.EVENT_CANCELLED}",
        ]
        assert seen["notifications"] == {f"helsinki:{events.EVENT_CANCELLED}"}
        # Identity gets every Kouvola service's answer: the erasure can complete.
        assert sorted(seen["identity"]) == sorted(f"kouvola:{a}" for a in ANSWERS)


async def test_kouvola_cannot_speak_for_helsinki_and_helsinki_erasure_reaches_kouvola(
    federation_plugin: None,
    broker: Broker,
    make_settings: Callable[..., Any],
) -> None:
    """What Kouvola's site (its key, its services) says about Helsinki reaches Helsinki by
    federation and is dead-lettered there as `unauthenticated`, nothing applied; at
    Kouvola no service may write to identity's exchange (RabbitMQ refuses); Helsinki's
    genuine erasure of a Kouvola user, federated, is applied at Kouvola."""
    sites = load_sites(broker)
    helsinki, kouvola = render("helsinki"), render("kouvola")
    seen: dict[str, set[str]] = {"analytics": set(), "identity": set(), "kvl": set()}

    def recorder(name: str) -> Handler:
        async def record(delivery: Delivery[BaseModel]) -> None:
            # Any of the types the stand-ins consume: a person's or an event's.
            data = delivery.data
            subject = getattr(data, "user_id", None) or getattr(data, "event_id", "")
            seen[name].add(f"{delivery.event.municipality}:{subject}")

        return record

    analytics = Service(
        "fedanalytics", settings=site_settings(make_settings, helsinki, "analytics", sites.helsinki)
    )
    analytics.consumer("guarded", [events.EVENT_CANCELLED], network=True)(recorder("analytics"))
    hki_identity = Service(
        "fedidentity", settings=site_settings(make_settings, helsinki, "identity", sites.helsinki)
    )
    hki_identity.consumer("guarded", ANSWERS)(recorder("identity"))
    # Kouvola's notifications: trusts Helsinki's identity; its own site runs no identity.
    kvl_notices = Service(
        "fednotifications",
        settings=site_settings(
            make_settings,
            kouvola,
            "notifications",
            sites.kouvola,
            site="kouvola",
            site_services=KOUVOLA_SERVICES,
            event_signing_key=json.dumps(KOUVOLA_KEY),
            event_signers=[HELSINKI],
        ),
    )
    kvl_notices.consumer("guarded", [identity.USER_ERASED])(recorder("kvl"))
    buses = {s: kouvola_bus_at(sites.kouvola[s], s) for s in ("events", "notifications")}
    async with AsyncExitStack() as stack:
        for svc in (analytics, hki_identity, kvl_notices):
            await svc.start()
            stack.push_async_callback(svc.stop)
        for bus in buses.values():
            stack.push_async_callback(bus.stop)
        hki, kvl = await channels(stack, sites.helsinki), await channels(stack, sites.kouvola)
        probes = await hki["analytics"].declare_queue(
            "kohtaamo.analytics.deploycheck-probes", exclusive=True
        )
        for service in ("events", "notifications"):
            await probes.bind(f"kohtaamo.{service}.events", routing_key=f"{service}.probe.v1")
            await until_linked(
                kvl[service], f"kohtaamo.{service}.events", f"{service}.probe.v1", probes
            )
        back = await kvl["notifications"].declare_queue(
            "kohtaamo.notifications.deploycheck-back", exclusive=True
        )
        await back.bind("kohtaamo.identity.events", routing_key="identity.probe.v1")
        await until_linked(hki["identity"], "kohtaamo.identity.events", "identity.probe.v1", back)

        for bus in buses.values():
            await bus.connect()
        cancelled = {"event_id": "hki-e", "title": {"fi": "x"}, "starts_at": "2026-12-01T10:00:00Z"}
        erasure = {"user_id": "hki-user", "records_erased": 1}
        # Kouvola signs, with its own key, what only Helsinki may say: about Helsinki.
        await buses["events"].publish_event(envelope(events.EVENT_CANCELLED, cancelled, sign=False))
        await buses["notifications"].publish_event(
            envelope(notifications.ERASURE_COMPLETED, erasure, sign=False)
        )
        # And at home: no service of Kouvola's may write to identity's exchange (the one
        # Helsinki's identity events come through); RabbitMQ refuses it.
        forger = await aio_pika.connect(sites.kouvola["events"])
        stack.push_async_callback(forger.close)
        forging = await forger.channel(publisher_confirms=True)
        with pytest.raises(ChannelAccessRefused):
            exchange = await forging.get_exchange("kohtaamo.identity.events", ensure=False)
            await exchange.publish(
                aio_pika.Message(b"{}"), routing_key="identity.user.erased.v1", timeout=10
            )
        # Helsinki's identity erases a Kouvola user: federated to Kouvola, applied there.
        genuine = envelope(
            identity.USER_ERASED,
            {"user_id": "kvl-user", "requested_at": "2026-12-01T10:00:00Z"},
            municipality="kouvola",
        )
        await publish_as_producer(hki_identity.settings, genuine)

        async def kouvola_applied() -> bool:
            return "kouvola:kvl-user" in seen["kvl"]

        await eventually(kouvola_applied, timeout=30)
        reasons = []
        for svc in (analytics, hki_identity):
            # Each reads its own dead letters as its own broker user.
            connection = await aio_pika.connect(svc.settings.amqp_url.get_secret_value())
            stack.push_async_callback(connection.close)
            dlq = await (await connection.channel()).declare_queue(
                f"{queue_of(svc, 'guarded')}.dlq", passive=True
            )
            [letter] = await drain(dlq, 1, timeout=15)
            reasons.append(letter["headers"]["x-kohtaamo-reason"])
        assert reasons == ["unauthenticated"] * 2
        counts = await kvl_notices.admin.queue_counts(f"{queue_of(kvl_notices, 'guarded')}.dlq")
        assert counts is not None and counts[0] == 0
        assert seen == {"analytics": set(), "identity": set(), "kvl": {"kouvola:kvl-user"}}


async def test_a_federated_event_keeps_its_trace(
    federation_plugin: None, broker: Broker, make_settings: Callable[..., Any], tmp_path: Path
) -> None:
    """With tracing on at both sites, an event a Kouvola request stages is one trace with
    Helsinki's consumer of it: the consumer's span (at the other site, in another process)
    is a child of the Kouvola request's span (the envelope's signed `traceparent`) and is
    linked to Kouvola's relay publish (the AMQP header, through the federation link), with
    its queue wait. Both sides are service processes exporting OTLP/HTTP to a real
    receiver of this test."""
    sites = load_sites(broker)
    helsinki, kouvola = render("helsinki"), render("kouvola")
    receiving = site_settings(make_settings, helsinki, "analytics", sites.helsinki)
    sending = site_settings(
        make_settings,
        kouvola,
        "events",
        sites.kouvola,
        site="kouvola",
        event_signing_key=json.dumps(KOUVOLA_KEY),
        event_signers=[HELSINKI],
    )
    with TraceReceiver() as receiver:
        async with AsyncExitStack() as stack:
            ports: dict[str, int] = {}
            processes: dict[str, Any] = {}
            # Kouvola's events service as its own user of the site's definitions (its
            # exchange and queues are its own); Helsinki's stand-in as the run's.
            for role, settings, amqp_url in (
                ("receiver", receiving, receiving.amqp_url.get_secret_value()),
                ("sender", sending, sites.kouvola["events"]),
            ):
                ports[role] = localstore.free_port()
                log = stack.enter_context((tmp_path / f"{role}.log").open("wb"))
                processes[role] = _start(role, settings, amqp_url, receiver, ports[role], log)
                stack.callback(_stop, processes[role])
            try:
                event_id = await _cancel_at_kouvola(stack, sites, ports, processes)
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {_tails(tmp_path)}") from exc

            def consumer() -> Any:
                return next(
                    (
                        s
                        for s in receiver.received()
                        if s.service == "kohtaamo-fedanalytics"
                        and s.kind == "consumer"
                        and s.attributes.get("messaging.message.id") == event_id
                    ),
                    None,
                )

            async def consumed() -> bool:
                return consumer() is not None

            try:
                await eventually(consumed, timeout=60)
            except AssertionError as exc:
                raise AssertionError(f"not consumed at Helsinki: {_tails(tmp_path)}") from exc
        span = consumer()
        spans = receiver.trace(span.trace_id)
    [request] = [s for s in spans if s.service == "kohtaamo-events" and s.kind == "server"]
    [relay] = [
        s
        for s in spans
        if s.service == "kohtaamo-events"
        and s.kind == "producer"
        and s.attributes.get("messaging.message.id") == event_id
    ]
    assert request.parent_span_id == ""  # the trace began with Kouvola's request
    assert relay.parent_span_id == request.span_id
    assert span.parent_span_id == request.span_id
    assert (relay.trace_id, relay.span_id) in span.links
    assert span.attributes["kohtaamo.outcome"] == "applied"
    assert span.attributes["kohtaamo.queue.wait_s"] >= 0
    assert span.start_ns >= relay.start_ns


async def _cancel_at_kouvola(
    stack: AsyncExitStack, sites: Sites, ports: dict[str, int], processes: dict[str, Any]
) -> str:
    """Once both sides answer and the link is up to Helsinki's queue: a request at
    Kouvola's events that stages an event.cancelled; its id."""
    async with httpx.AsyncClient(timeout=10) as client:
        for role, port in ports.items():
            await _ready(client, f"http://127.0.0.1:{port}", processes[role])
        hki, kvl = await channels(stack, sites.helsinki), await channels(stack, sites.kouvola)
        probes = await hki["analytics"].declare_queue(
            "kohtaamo.analytics.deploycheck-probes", exclusive=True
        )
        await probes.bind("kohtaamo.events.events", routing_key="events.probe.v1")
        await until_linked(kvl["events"], "kohtaamo.events.events", "events.probe.v1", probes)
        answer = await client.post(
            f"http://127.0.0.1:{ports['sender']}/cancel", json={"event_id": "e-traced"}
        )
        assert answer.status_code == 202, answer.text
        event_id: str = answer.json()["id"]
        return event_id


def _start(
    role: str, settings: Any, amqp_url: str, receiver: TraceReceiver, port: int, log: Any
) -> Any:
    """One side as a service process (tests/apps/traced_federation.py), exporting spans."""
    env = {
        **os.environ,
        **service_env(
            settings,
            PYTHONPATH=str(APPS),
            KOHTAAMO_OUTBOX_POLL_S="0.2",
            KOHTAAMO_AMQP_URL=amqp_url,
        ),
        **receiver.env(),
    }
    command = ["kit.cli", "run", f"traced_federation:{role}", "--port", str(port)]
    return subprocess.Popen(
        [sys.executable, "-m", *command],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _tails(logs: Path) -> dict[str, str]:
    return {p.name: p.read_text()[-2000:] for p in logs.glob("*.log")}


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


async def _ready(client: httpx.AsyncClient, url: str, process: Any, timeout: float = 180.0) -> None:
    async def answers() -> bool:
        assert process.poll() is None, f"{url}: the process exited"
        try:
            return (await client.get(f"{url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(answers, timeout=timeout)

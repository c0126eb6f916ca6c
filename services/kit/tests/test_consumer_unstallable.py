"""No sender can stall a consumer: every step of reading a delivery is inside the error
handling (a bad delivery is dead-lettered with its reason and acked, the consumer keeps
going), and a consumer that holds messages without progress is reported and restarted."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import Payload, register, topology
from kit.app import Service
from kit.consumer import Delivery
from kit.metrics import CONSUMED, CONSUMER_RESTARTS, CONSUMER_STALLED
from kit.testing import drain, envelope, eventually

# A type of its own: no other kit test's queue is bound to it.
TYPE = "kohtaamo.kittest.parcel.sent.v1"
QUEUE = "kohtaamo.kittest.parcels"
WATCHED = "parcels-watched"
BATCHED = "parcels-batched"


@register(TYPE)
class ParcelSent(Payload):
    parcel_id: str
    # In the queue of purpose `hang_in`, the first `hang` deliveries of this parcel hang
    # (a stuck handler), and so does every one before the test `release`s it.
    hang: int = 0
    hang_in: str = ""


@dataclass
class Hangs:
    """The parcels' hangs: begun, and ended by the watchdog's restart (a cancel)."""

    begun: int = 0
    restarted: int = 0


def parcel_service(
    settings: Any,
    *,
    purpose: str = "parcels",
    batch: int = 0,
    release: asyncio.Event | None = None,
) -> Service:
    svc = Service("kittest", settings=settings)
    hangs = svc.provide(Hangs())
    seen: dict[str, int] = {}

    async def apply(delivery: Delivery[ParcelSent]) -> None:
        data = delivery.data
        seen[data.parcel_id] = seen.get(data.parcel_id, 0) + 1
        held = seen[data.parcel_id] <= data.hang or (release is not None and not release.is_set())
        if data.hang_in == purpose and held:
            hangs.begun += 1
            try:
                await asyncio.Event().wait()  # never set: only a restart ends this
            except asyncio.CancelledError:
                hangs.restarted += 1
                raise
        await svc.store.db.parcels.insert_one(
            {"event_id": delivery.event.id, "parcel_id": data.parcel_id},
            session=delivery.session,
        )

    if batch:

        @svc.consumer(purpose, [TYPE], batch=batch, batch_wait_ms=20)
        async def on_parcels(deliveries: list[Delivery[ParcelSent]]) -> None:
            for delivery in deliveries:
                await apply(delivery)

    else:

        @svc.consumer(purpose, [TYPE])
        async def on_parcel(delivery: Delivery[ParcelSent]) -> None:
            await apply(delivery)

    return svc


@pytest.fixture(scope="module")
async def service(make_settings: Any) -> AsyncIterator[Service]:
    svc = parcel_service(make_settings("kittest"))
    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture(scope="module")
async def channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    yield channel
    await connection.close()


@asynccontextmanager
async def own_vhost(
    make_settings: Callable[..., Any], make_vhost: Callable[..., str], name: str
) -> AsyncIterator[tuple[Any, aio_pika.abc.AbstractChannel]]:
    """Settings on a vhost of the test's own, and a channel to send there: its queues take
    a delivery limit of 1000 (every service declares the run vhost's revocation queue with
    the run's limit, and a queue's arguments cannot change), since the restarts requeue
    the stuck message once each and a loaded machine may need many before the test is done."""
    url = make_vhost(name, "function")
    settings = make_settings("kittest", amqp_url=url, consumer_stall_s=0.5, delivery_limit=1000)
    connection = await aio_pika.connect_robust(url)
    try:
        yield settings, await connection.channel(publisher_confirms=True)
    finally:
        await connection.close()


async def send(channel: aio_pika.abc.AbstractChannel, body: bytes, **properties: Any) -> None:
    exchange = await channel.get_exchange(topology.exchange("kittest"))
    await exchange.publish(
        aio_pika.Message(body, **properties), routing_key=topology.routing_key(TYPE)
    )


async def applied(svc: Service, *event_ids: str) -> bool:
    found = await svc.store.db.parcels.count_documents({"event_id": {"$in": list(event_ids)}})
    return found == len(event_ids)


def parcel(**data: Any) -> bytes:
    return envelope(TYPE, {"parcel_id": uuid.uuid4().hex, **data}).model_dump_json().encode()


async def test_a_bad_retry_header_on_more_than_the_prefetch_stalls_nothing(
    service: Service, channel: aio_pika.abc.AbstractChannel
) -> None:
    # The attack that stalled erasure queues: the header was parsed outside the error
    # handling, so each delivery was left unacked until the prefetch was used up.
    bad = service.settings.prefetch + 8
    for _ in range(bad):
        await send(channel, parcel(), headers={topology.HEADER_RETRIES: "not-a-number"})
    for value in (-1, True, 1.5, 10**9, [1], bytearray(b"2")):
        await send(channel, parcel(), headers={topology.HEADER_RETRIES: value})
    good = envelope(TYPE, {"parcel_id": "after"})
    await send(channel, good.model_dump_json().encode())
    dlq = await channel.declare_queue(topology.dead_letter_queue(QUEUE), passive=True)
    letters = await drain(dlq, bad + 6, timeout=20)
    assert {letter["headers"][topology.HEADER_REASON] for letter in letters} == {"malformed"}
    assert all(
        topology.HEADER_RETRIES in letter["headers"][topology.HEADER_ERROR] for letter in letters
    )
    await eventually(lambda: applied(service, good.id))
    assert not service._stalled


header_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    # Finite single-precision: RabbitMQ closes the publishing connection on an infinite
    # float header (its own parser), so such a delivery never reaches a consumer.
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=300),
    st.binary(max_size=300).map(bytearray),
    st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=5)), max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers(-5, 5), max_size=3),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
)
header_names = st.one_of(
    st.sampled_from(
        [
            topology.HEADER_RETRIES,
            topology.HEADER_REASON,
            topology.HEADER_ERROR,
            topology.HEADER_QUEUE,
            "x-death",
            "x-first-death-reason",
            "content-type",
        ]
    ),
    st.text(min_size=1, max_size=40),
)
short_text = st.one_of(st.none(), st.text(max_size=60))


def settled() -> float:
    outcomes = ("applied", "duplicate", "foreign", "dead_lettered")
    return sum(CONSUMED.labels("kittest", QUEUE, o)._value.get() for o in outcomes)


def dead() -> float:
    return CONSUMED.labels("kittest", QUEUE, "dead_lettered")._value.get()


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["valid", "garbage", "json", "fields", "duplicated"]))
    if kind == "valid":
        return parcel()
    if kind == "garbage":
        return draw(st.binary(max_size=500))
    if kind == "json":
        return json.dumps(
            draw(st.recursive(st.none() | st.integers() | st.text(), st.lists))
        ).encode()
    event = json.loads(parcel())
    if kind == "fields":
        field = draw(st.sampled_from(sorted(event)))
        event[field] = draw(
            st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers()))
        )
        return json.dumps(event).encode()
    # The same field twice: whichever wins, the delivery is read or dead-lettered.
    text = json.dumps(event)
    return (text[:-1] + ', "id": ' + json.dumps(draw(st.text(max_size=10))) + "}").encode()


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    properties: dict[str, Any] = {
        "headers": draw(st.dictionaries(header_names, header_values, max_size=6)),
        "content_type": draw(short_text),
        "content_encoding": draw(short_text),
        "message_id": draw(short_text),
        "correlation_id": draw(short_text),
        "type": draw(short_text),
        "app_id": draw(short_text),
        "priority": draw(st.none() | st.integers(0, 255)),
        "timestamp": draw(st.none() | st.datetimes(min_value=datetime(1970, 1, 2))),
    }
    return draw(bodies()), properties


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(deliveries(), min_size=1, max_size=4))
async def test_fuzzed_properties_and_headers_are_dead_lettered_or_applied(
    service: Service,
    channel: aio_pika.abc.AbstractChannel,
    batch: list[tuple[bytes, dict[str, Any]]],
) -> None:
    dlq = await channel.declare_queue(topology.dead_letter_queue(QUEUE), passive=True)
    await dlq.purge()
    settled_before, dead_before = settled(), dead()
    for body, properties in batch:
        await send(channel, body, **properties)
    # A valid message after them is applied: nothing before it stalled the consumer.
    after = envelope(TYPE, {"parcel_id": "sentinel"})
    await send(channel, after.model_dump_json().encode())
    await eventually(lambda: applied(service, after.id), timeout=15)

    async def accounted() -> bool:
        return settled() - settled_before == len(batch) + 1

    # Every fuzzed delivery was settled with an outcome (applied, a duplicate of an id
    # seen before, another municipality's, or dead-lettered): none lost, none held.
    await eventually(accounted, timeout=15)
    in_dlq = (await dlq.declare()).message_count or 0
    assert in_dlq == dead() - dead_before
    held = service._holding.get(QUEUE, {})
    assert not held, f"{len(held)} deliveries still held"


async def test_a_hung_handler_is_reported_and_restarted(
    make_settings: Callable[..., Any], make_vhost: Callable[..., str]
) -> None:
    """The stuck parcel hangs on every delivery until the test has seen the report (so no
    machine is too slow to see it), and each hang ends only by the watchdog's restart.
    A healthy delivery that a loaded machine keeps past `consumer_stall_s` is restarted too
    (the watchdog cannot tell slow from stuck), so restarts are counted as at least the
    hangs, not exactly: that is what 0.5 s allows; production waits 120 s."""
    release = asyncio.Event()
    async with own_vhost(make_settings, make_vhost, "stall-single") as (settings, channel):
        await _hung_handler(settings, channel, release)


async def _hung_handler(
    settings: Any, channel: aio_pika.abc.AbstractChannel, release: asyncio.Event
) -> None:
    svc = parcel_service(settings, purpose=WATCHED, release=release)
    hangs = svc.part(Hangs)
    queue = topology.queue("kittest", WATCHED)
    stalled = CONSUMER_STALLED.labels("kittest", queue)
    await svc.start()
    try:
        restarts = CONSUMER_RESTARTS.labels("kittest", queue)
        restarts_before = restarts._value.get()
        stuck = envelope(TYPE, {"parcel_id": "stuck", "hang": 1, "hang_in": WATCHED})
        await send(channel, stuck.model_dump_json().encode())

        async def reported() -> bool:
            checks = await svc.readiness()
            says = not checks["consumers"]["ok"] and "stalled" in checks["consumers"]["error"]
            return says and stalled._value.get() == 1

        await eventually(reported, timeout=60)
        release.set()
        # The hung delivery was requeued and, hanging no more, is applied once.
        await eventually(lambda: applied(svc, stuck.id), timeout=60)
        assert hangs.begun >= 1 and hangs.restarted == hangs.begun  # every hang restarted
        assert restarts._value.get() - restarts_before >= hangs.begun
        flowing = envelope(TYPE, {"parcel_id": "flowing"})
        await send(channel, flowing.model_dump_json().encode())
        await eventually(lambda: applied(svc, flowing.id), timeout=60)

        async def recovered() -> bool:
            return (await svc.readiness())["consumers"]["ok"] and stalled._value.get() == 0

        await eventually(recovered, timeout=30)
        assert await svc.store.db.parcels.count_documents({"event_id": stuck.id}) == 1
        assert await svc.store.db.parcels.count_documents({"event_id": flowing.id}) == 1
    finally:
        await svc.stop()


async def test_a_hung_batch_is_restarted_and_its_messages_applied(
    make_settings: Callable[..., Any], make_vhost: Callable[..., str]
) -> None:
    # A batch a loaded machine keeps past 0.5 s is restarted as well, its messages requeued
    # each time.
    async with own_vhost(make_settings, make_vhost, "stall-batch") as (settings, channel):
        await _hung_batch(settings, channel)


async def _hung_batch(settings: Any, channel: aio_pika.abc.AbstractChannel) -> None:
    svc = parcel_service(settings, purpose=BATCHED, batch=5)
    queue = topology.queue("kittest", BATCHED)
    await svc.start()
    try:
        restarts = CONSUMER_RESTARTS.labels("kittest", queue)
        restarts_before = restarts._value.get()
        stuck = envelope(TYPE, {"parcel_id": "stuck-batch", "hang": 1, "hang_in": BATCHED})
        others = [envelope(TYPE, {"parcel_id": f"p{i}"}) for i in range(4)]
        for event in (stuck, *others):
            await send(channel, event.model_dump_json().encode())
        await eventually(lambda: applied(svc, stuck.id, *(e.id for e in others)), timeout=60)
        assert svc.part(Hangs).restarted == svc.part(Hangs).begun == 1
        assert restarts._value.get() - restarts_before >= 1
        for event in (stuck, *others):
            assert await svc.store.db.parcels.count_documents({"event_id": event.id}) == 1
    finally:
        await svc.stop()

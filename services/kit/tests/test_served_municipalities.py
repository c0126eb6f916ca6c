"""A site acts only on messages of the municipalities it serves (federation also brings a
partner's); a network-wide consumer acts on all. Real broker and store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from kit.app import Service
from kit.consumer import Delivery
from kit.settings import KitSettings
from kit.testing import envelope, eventually, publish_as_producer

TYPE = "kohtaamo.kittest.thing.happened.v1"
SERVICE = "kitsites"


def consumed(queue: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "kohtaamo_messages_consumed_total",
        {"service": SERVICE, "queue": queue, "outcome": outcome},
    )
    return value or 0.0


class Seen(dict[str, set[str]]):
    """The municipalities each consumer was called for (a part of the test's service)."""


@pytest.fixture
async def site(make_settings: Callable[..., Any]) -> AsyncIterator[Service]:
    # Helsinki's site that also serves Kouvola (as Helsinki's identity does).
    settings = make_settings(SERVICE, municipality="helsinki", municipalities=["kouvola"])
    svc = Service(SERVICE, settings=settings)
    # Sets: a transaction that conflicts with a concurrent one runs its handler again.
    seen = svc.provide(Seen(local=set(), network=set()))

    @svc.consumer("local", [TYPE])
    async def on_local(delivery: Delivery[Any]) -> None:
        seen["local"].add(delivery.event.municipality)
        await svc.store.db.applied.insert_one(
            {"event_id": delivery.event.id}, session=delivery.session
        )

    @svc.consumer("network", [TYPE], network=True)
    async def on_network(delivery: Delivery[Any]) -> None:
        seen["network"].add(delivery.event.municipality)

    await svc.start()
    yield svc
    await svc.stop()


async def test_consumer_ignores_unserved_municipalities_network_consumer_acts_on_all(
    site: Service,
) -> None:
    local_queue = "kohtaamo.kitsites.local"
    foreign_before = consumed(local_queue, "foreign")
    applied_before = consumed(local_queue, "applied")
    seen = site.part(Seen)
    espoo = envelope(TYPE, {"thing_id": "e"}, municipality="espoo")
    own = envelope(TYPE, {"thing_id": "h"}, municipality="helsinki")
    served = envelope(TYPE, {"thing_id": "k"}, municipality="kouvola")
    # The foreign one first: once the later ones are applied, it has been handled too.
    # Published by the type's producer, as its own broker user.
    await publish_as_producer(site.settings, espoo, own, served)

    async def all_handled() -> bool:
        return (
            len(seen["network"]) == 3
            and await site.store.db.applied.count_documents({}) == 2
            and consumed(local_queue, "foreign") == foreign_before + 1
        )

    try:
        await eventually(all_handled, timeout=30)
    except AssertionError as exc:
        foreign = consumed(local_queue, "foreign")
        raise AssertionError(f"handled: {seen}, foreign: {foreign}") from exc
    assert seen["local"] == {"helsinki", "kouvola"}
    assert seen["network"] == {"espoo", "helsinki", "kouvola"}
    assert consumed(local_queue, "applied") == applied_before + 2
    # Skipped, not applied: no inbox record, no effect.
    assert not await site.inbox.seen(consumer="local", event_id=espoo.id)
    assert await site.inbox.seen(consumer="local", event_id=served.id)
    assert await site.store.db.applied.count_documents({"event_id": espoo.id}) == 0
    # Acked, not left in the queue or dead-lettered.
    counts = await site.admin.queue_counts(local_queue)
    assert counts is not None and counts[0] == 0
    dead = await site.admin.queue_counts("kohtaamo.kitsites.local.dlq")
    assert dead is not None and dead[0] == 0


def test_served_municipalities_default_to_the_site_and_read_a_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("KOHTAAMO_MUNICIPALITY", "KOHTAAMO_MUNICIPALITIES"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KOHTAAMO_MUNICIPALITY", "kouvola")
    assert KitSettings().municipalities == ["kouvola"]
    assert not KitSettings().serves("helsinki")
    monkeypatch.setenv("KOHTAAMO_MUNICIPALITY", "helsinki")
    monkeypatch.setenv("KOHTAAMO_MUNICIPALITIES", "kouvola, helsinki")
    assert KitSettings().municipalities == ["helsinki", "kouvola"]
    monkeypatch.setenv("KOHTAAMO_MUNICIPALITIES", '["espoo"]')
    settings = KitSettings()
    assert settings.municipalities == ["helsinki", "espoo"]
    assert settings.serves("espoo") and not settings.serves("kouvola")

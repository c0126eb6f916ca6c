"""A sign-up costs the same whether the event has no registrations or hundreds: it reads
the event by `_id`, checks the signing-up users' own registrations through the
(event_id, user_id) index, and writes counters, registrations and outbox entries. The
store commands one sign-up sends are recorded (PyMongo command monitoring on the real
store) and compared between an empty event and a crowded one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from events import registration, store
from events.main import service
from kit import mongo

CROWD = 300


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        collection = event.command.get(name)
        if isinstance(collection, str) and collection in (store.EVENTS, store.REGISTRATIONS):
            self.seen.append((name, collection, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def watched(svc: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, Commands]]:
    """A second events service on the same store and broker (not started: its writes go
    to the same outbox, which the running service's relay publishes), whose store client
    records the commands it sends."""
    listener = Commands()

    def connect(settings: Any, kind: str | None = None) -> AsyncMongoClient[dict[str, Any]]:
        return AsyncMongoClient(
            settings.mongo_url.get_secret_value(),
            retryWrites=False,
            maxPoolSize=2,
            tz_aware=True,
            event_listeners=[listener],
        )

    monkeypatch.setattr(mongo, "connect", connect)
    other = service(svc.settings)
    yield other, listener
    await other.store.close()


def shape(commands: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str, Any]]:
    """What each command does, without its values: command, collection, filter fields."""
    out = []
    for name, collection, body in commands:
        where = body.get("filter")
        if name == "update":
            where = body["updates"][0]["q"]
        out.append((name, collection, sorted(where) if isinstance(where, dict) else None))
    return out


async def sign_up(
    watched: tuple[Any, Commands], event_id: str, user: str
) -> list[tuple[str, str, Any]]:
    other, commands = watched
    commands.seen.clear()
    [result] = await registration.write_batch(
        other, event_id, [registration.SignUp(user, registration.RegistrationIn(), None)]
    )
    assert isinstance(result, dict) and result["status"] == "confirmed", result
    return shape(commands.seen)


async def crowd(svc: Any, event_id: str, municipality: str) -> None:
    regs = [
        {
            "_id": f"reg-crowd-{event_id}-{i}",
            "event_id": event_id,
            "municipality": municipality,
            "user_id": f"crowd-{i}",
            "seats": 1,
            "status": "confirmed" if i % 3 else "cancelled",
            "sequence": None,
        }
        for i in range(CROWD)
    ]
    await svc.store.db[store.REGISTRATIONS].insert_many(regs)
    taken = sum(1 for r in regs if r["status"] == "confirmed")
    await svc.store.db[store.EVENTS].update_one({"_id": event_id}, {"$set": {"seats_taken": taken}})


async def test_sign_up_reads_the_same_however_many_registrations(
    api: Any, svc: Any, watched: tuple[Any, Commands]
) -> None:
    empty = await api.event(capacity=1000)
    crowded = await api.event(capacity=1000)
    await crowd(svc, crowded["id"], "helsinki")

    alone = await sign_up(watched, empty["id"], "cost-a")
    among_many = await sign_up(watched, crowded["id"], "cost-a")
    assert alone == among_many
    # The only read of registrations is bounded by the (event_id, user_id) index: with
    # more clauses the embedded store bounded it by event_id alone (every registration).
    reads = [c for c in alone if c[1] == store.REGISTRATIONS and c[0] != "insert"]
    assert reads == [("find", store.REGISTRATIONS, ["event_id", "user_id"])]
    assert not [c for c in alone if c[0] in ("count", "aggregate", "distinct")]
    assert [c for c in alone if c[1] == store.EVENTS] == [
        ("find", store.EVENTS, ["_id"]),
        ("update", store.EVENTS, ["_id", "capacity", "seats_taken", "status", "waiting",
                                  "waitlist_seq"]),
    ]  # fmt: skip


async def test_duplicates_are_refused_and_cancelled_may_sign_up_again(api: Any) -> None:
    event = await api.event(capacity=5)
    eid = event["id"]
    first = await api.register(eid, "again-a")
    assert first.status_code == 201
    twice = await asyncio.gather(*(api.register(eid, "again-b") for _ in range(4)))
    assert sorted(r.status_code for r in twice) == [201, 409, 409, 409]
    assert (await api.register(eid, "again-a")).status_code == 409
    me = api.auth("resident", sub="again-a")
    cancelled = await api.client.post(f"/registrations/{first.json()['id']}/cancel", headers=me)
    assert cancelled.status_code == 200
    back = await api.register(eid, "again-a")
    assert back.status_code == 201 and back.json()["status"] == "confirmed"


async def test_two_replicas_signing_up_groups_never_overbook(api: Any, svc: Any) -> None:
    """Two registrars (as two replicas would have) write batches for one event at once:
    their transactions conflict and retry, and the seats never exceed the capacity."""
    event = await api.event(capacity=30, max_group_size=4)
    eid = event["id"]
    replicas = [registration.Registrar(svc, batch=8) for _ in range(2)]
    signups = [
        registration.SignUp(f"group-{i}", registration.RegistrationIn(seats=1 + i % 4), None)
        for i in range(40)
    ]
    results = await asyncio.gather(*(replicas[i % 2].submit(eid, s) for i, s in enumerate(signups)))
    confirmed = sum(r["seats"] for r in results if r["status"] == "confirmed")
    assert 27 <= confirmed <= 30  # a group that does not fit waits whole
    regs = svc.store.db[store.REGISTRATIONS]
    stored = [r async for r in regs.find({"event_id": eid})]
    assert len(stored) == 40
    assert sum(r["seats"] for r in stored if r["status"] == "confirmed") == confirmed
    doc = await svc.store.db[store.EVENTS].find_one({"_id": eid})
    assert doc["seats_taken"] == confirmed
    assert doc["waiting"] == sum(1 for r in stored if r["status"] == "waitlisted")

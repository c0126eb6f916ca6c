"""Capacity under concurrent sign-ups, against the real store: 200 simultaneous
registrations for 20 seats give exactly 20 confirmed and 180 waiting, and promotions
after cancellations follow the waiting-list order; a sign-up whose event changed under
its transaction reruns instead of failing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from contracts import events as ev
from events import registration, store
from events.registration import RegistrationIn, SignUp


async def test_200_concurrent_signups_for_20_seats(api: Any, svc: Any, published: Any) -> None:
    event = await api.event(capacity=20)
    eid = event["id"]
    users = [f"burst-{i:03d}" for i in range(200)]
    responses = await asyncio.gather(*(api.register(eid, u) for u in users))
    assert all(r.status_code == 201 for r in responses), {r.status_code for r in responses}
    confirmed = [r.json() for r in responses if r.json()["status"] == "confirmed"]
    waiting = [r.json() for r in responses if r.json()["status"] == "waitlisted"]
    assert len(confirmed) == 20 and len(waiting) == 180
    assert sorted(w["place"] for w in waiting) == list(range(1, 181))

    # The store agrees: counters and documents.
    doc = await svc.store.db[store.EVENTS].find_one({"_id": eid})
    assert doc["seats_taken"] == 20 and doc["waiting"] == 180
    regs = svc.store.db[store.REGISTRATIONS]
    assert await regs.count_documents({"event_id": eid, "status": "confirmed"}) == 20
    assert await regs.count_documents({"event_id": eid, "status": "waitlisted"}) == 180

    # Promotions after cancellations keep the order of the list.
    order = [
        r["user_id"]
        for r in await regs.find(
            {"event_id": eid, "status": "waitlisted"}, sort=[("sequence", 1)]
        ).to_list(None)
    ]
    by_place = [w["user_id"] for w in sorted(waiting, key=lambda w: w["place"])]
    assert order == by_place
    leaving = confirmed[:5]
    await asyncio.gather(
        *(
            api.client.post(
                f"/registrations/{c['id']}/cancel",
                headers=api.auth("resident", sub=c["user_id"]),
            )
            for c in leaving
        )
    )
    promoted = await published.wait(ev.REGISTRATION_PROMOTED, 5, event_id=eid)
    assert sorted(p["data"]["user_id"] for p in promoted) == sorted(order[:5])
    now_confirmed = {
        r["user_id"]
        for r in await regs.find({"event_id": eid, "status": "confirmed"}).to_list(None)
    }
    assert len(now_confirmed) == 20 and set(order[:5]) <= now_confirmed
    assert not set(order[5:]) & now_confirmed
    doc = await svc.store.db[store.EVENTS].find_one({"_id": eid})
    assert doc["seats_taken"] == 20 and doc["waiting"] == 175
    # A waiting user now stands 1st where they stood 6th.
    sixth = next(w for w in waiting if w["user_id"] == order[5])
    r = await api.client.get(
        f"/registrations/{sixth['id']}", headers=api.auth("resident", sub=order[5])
    )
    assert r.json()["place"] == 1
    assert len(published.of(ev.REGISTRATION_CONFIRMED, event_id=eid)) <= 20
    confirmed_events = await published.wait(ev.REGISTRATION_CONFIRMED, 20, event_id=eid)
    assert len(confirmed_events) == 20
    assert len(await published.wait(ev.REGISTRATION_WAITLISTED, 180, event_id=eid)) == 180


async def test_unbatched_concurrent_transactions_never_overbook(api: Any, svc: Any) -> None:
    """Several replicas of the service do not share a batch: their transactions race on
    the event's counters. One transaction per sign-up, all at once, still fills exactly."""
    event = await api.event(capacity=5)
    signups = [SignUp(user_id=f"race-{i}", data=RegistrationIn(), name=None) for i in range(40)]
    results = await asyncio.gather(
        *(registration.write_batch(svc, event["id"], [s]) for s in signups)
    )
    statuses = [r[0]["status"] for r in results]
    assert statuses.count("confirmed") == 5 and statuses.count("waitlisted") == 35
    doc = await svc.store.db[store.EVENTS].find_one({"_id": event["id"]})
    assert doc["seats_taken"] == 5 and doc["waiting"] == 35 and doc["waitlist_seq"] == 35
    sequences = sorted(r[0]["sequence"] for r in results if r[0]["sequence"] is not None)
    assert sequences == list(range(1, 36))


async def test_a_seat_taken_between_read_and_update_reruns_the_signup(
    api: Any, svc: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another replica's sign-up commits the last seat after this sign-up's transaction
    read the event and before its guarded seat update: the guard finds the counts changed,
    which is a write conflict (kit.uow.WriteConflict), so the unit of work reruns from a
    fresh snapshot and the sign-up waits in line, with counts that hold both."""
    event = await api.event(capacity=1)
    eid = event["id"]
    reads: list[list[str]] = []
    real = registration.already_registered

    async def read_then_race(db: Any, session: Any, event_id: str, users: list[str]) -> set[str]:
        found = await real(db, session, event_id, users)
        reads.append(users)
        if len(reads) == 1:  # only the first attempt of the first sign-up is raced
            rival = SignUp(user_id="rival", data=RegistrationIn(), name=None)
            [taken] = await registration.write_batch(svc, eid, [rival])  # its own transaction
            assert not isinstance(taken, Exception) and taken["status"] == "confirmed"
        return found

    monkeypatch.setattr(registration, "already_registered", read_then_race)
    mine = SignUp(user_id="late", data=RegistrationIn(), name=None)
    [result] = await registration.write_batch(svc, eid, [mine])
    assert not isinstance(result, Exception), result
    assert result["status"] == "waitlisted" and result["place"] == 1
    # The late sign-up read the event twice (the first attempt and its rerun), the rival
    # once in between.
    assert reads == [["late"], ["rival"], ["late"]]
    doc = await svc.store.db[store.EVENTS].find_one({"_id": eid})
    assert doc["seats_taken"] == 1 and doc["waiting"] == 1 and doc["waitlist_seq"] == 1
    regs = svc.store.db[store.REGISTRATIONS]
    held = {r["user_id"]: r["status"] async for r in regs.find({"event_id": eid})}
    assert held == {"rival": "confirmed", "late": "waitlisted"}


async def test_a_guard_miss_is_a_write_conflict_and_the_signup_reruns(
    api: Any, svc: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registrar's seat update is guarded by the counts it read; when it matches
    nothing, the counts changed under it. The store above catches a rival's commit inside
    the transaction itself (its own write conflict), so the guard misses only when the read
    was stale: here the event as it was before a rival took the last seat (as a lagging
    read would serve it). That miss raises kit.uow.WriteConflict, not an error: the unit
    of work reruns from a fresh snapshot and the sign-up waits in line."""
    event = await api.event(capacity=1)
    eid = event["id"]
    events = svc.store.db[store.EVENTS]
    stale = await events.find_one({"_id": eid})
    rival = SignUp(user_id="rival", data=RegistrationIn(), name=None)
    [taken] = await registration.write_batch(svc, eid, [rival])
    assert not isinstance(taken, Exception) and taken["status"] == "confirmed"

    real_find_one = AsyncCollection.find_one
    served: list[dict[str, Any]] = []

    async def find_one(self: AsyncCollection[Any], filter: Any = None, *a: Any, **k: Any) -> Any:
        read_in_unit = k.get("session") is not None and filter == {"_id": eid}
        if self.name == store.EVENTS and read_in_unit and not served:
            served.append(stale)
            return dict(stale)  # the first attempt reads the event as it was
        return await real_find_one(self, filter, *a, **k)

    monkeypatch.setattr(AsyncCollection, "find_one", find_one)
    mine = SignUp(user_id="late", data=RegistrationIn(), name=None)
    [result] = await registration.write_batch(svc, eid, [mine])
    assert served, "the stale read was not served"
    assert not isinstance(result, Exception), result
    assert result["status"] == "waitlisted" and result["place"] == 1
    monkeypatch.undo()
    doc = await events.find_one({"_id": eid})
    assert doc["seats_taken"] == 1 and doc["waiting"] == 1 and doc["waitlist_seq"] == 1
    regs = svc.store.db[store.REGISTRATIONS]
    held = {r["user_id"]: r["status"] async for r in regs.find({"event_id": eid})}
    assert held == {"rival": "confirmed", "late": "waitlisted"}

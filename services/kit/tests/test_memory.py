"""kit.memory: the fakes of the unit of work, outbox and bus that the fast tier runs a
service's rules on (no infrastructure). They keep the unit of work's promises: events
published only when their unit commits, an aborted unit's writes undone, the relay woken
after a commit, and a consumer's handler called with its payload model."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from contracts import CloudEvent
from contracts import identity as idc
from kit.app import Service
from kit.consumer import Delivery
from kit.events import new_event
from kit.memory import use_memory
from kit.settings import KitSettings


def erased(user_id: str) -> CloudEvent:
    return new_event(
        service="identity",
        type_=idc.USER_ERASED,
        data=idc.UserErased(user_id=user_id, requested_at=datetime.now(UTC)),
        municipality="helsinki",
        subject=f"user/{user_id}",
    )


@pytest.fixture
def svc() -> Service[KitSettings]:
    return Service("memtest", settings=KitSettings(service="memtest"))


async def test_a_committed_unit_publishes_its_events_and_wakes_after(
    svc: Service[KitSettings],
) -> None:
    memory = use_memory(svc)
    woken: list[int] = []
    async with svc.uow() as uow:
        await uow.db.things.insert_one({"_id": "t1"}, session=uow.session)
        await uow.emit(erased("u1"))
        uow.after_commit(lambda: woken.append(len(memory.events)))
        assert memory.events == []  # staged, not yet published
    assert [e.subject for e in memory.events] == ["user/u1"]
    assert woken == [1]  # after the commit, with the event already there
    assert memory.outbox.wakes == 1
    assert await svc.store.db.things.count_documents({}) == 1


async def test_an_aborted_unit_leaves_nothing(svc: Service[KitSettings]) -> None:
    memory = use_memory(svc)
    await memory.db.things.insert_one({"_id": "kept", "n": 1})
    with pytest.raises(RuntimeError, match="refused"):
        async with svc.uow() as uow:
            await uow.db.things.update_one({"_id": "kept"}, {"$inc": {"n": 1}})
            await uow.db.things.insert_one({"_id": "new"})
            await uow.emit(erased("u2"))
            raise RuntimeError("refused")
    assert await memory.db.things.find({}).to_list() == [{"_id": "kept", "n": 1}]
    assert memory.events == []
    assert memory.outbox.wakes == 0
    # A helper that staged with the bare session (svc.emit) counts as well.
    async with svc.uow() as uow:
        await svc.emit(uow.session, erased("u3"))
    assert [e.subject for e in memory.events] == ["user/u3"]
    assert memory.outbox.wakes == 1


async def test_units_run_in_turn_and_a_nested_one_is_refused(svc: Service[KitSettings]) -> None:
    memory = use_memory(svc)
    await memory.db.counters.insert_one({"_id": "c", "n": 0})

    async def increment(uow: object) -> None:
        # Read, yield to the loop, write: interleaved, two of these would lose an update.
        doc = await memory.db.counters.find_one({"_id": "c"})
        assert doc is not None
        await asyncio.sleep(0)
        await memory.db.counters.update_one({"_id": "c"}, {"$set": {"n": doc["n"] + 1}})

    await asyncio.gather(*(svc.uow.run(increment) for _ in range(20)))
    assert (await memory.db.counters.find_one({"_id": "c"}) or {})["n"] == 20
    with pytest.raises(RuntimeError, match="inside another"):
        async with svc.uow():
            async with svc.uow():
                pass


async def test_a_delivery_gets_its_payload_model_in_a_unit(svc: Service[KitSettings]) -> None:
    memory = use_memory(svc)
    seen: list[str] = []

    async def handler(delivery: Delivery[idc.UserErased]) -> None:
        assert isinstance(delivery.data, idc.UserErased)
        assert delivery.uow is not None
        seen.append(delivery.data.user_id)
        await delivery.uow.db.erased.insert_one({"_id": delivery.data.user_id})

    await memory.deliver(handler, erased("u4"))
    assert seen == ["u4"]
    assert await memory.db.erased.count_documents({"_id": "u4"}) == 1

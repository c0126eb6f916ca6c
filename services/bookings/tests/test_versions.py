"""The calendars' versions for availability reads (versions.py), on the real store:
requests waiting at the same moment share one query and each gets its own calendar's
versions; a request never joins a read already under way, so it sees every change
committed before it came; a cancelled request does not disturb the others."""

from __future__ import annotations

import asyncio
from typing import Any

from bookings.versions import Version, Versions
from kit.mongo import Store


class Held(Versions):
    """Its first read, once answered by the store, waits for `release`."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.answered = asyncio.Event()
        self.release = asyncio.Event()

    async def _query(self, resource_ids: list[str]) -> dict[str, Version]:
        found = await super()._query(resource_ids)
        if self.queries == 1:
            self.answered.set()
            await self.release.wait()
        return found


async def calendars(svc: Any, ids: list[str]) -> dict[str, Version]:
    found = svc.store.db.calendars.find({"_id": {"$in": ids}})
    return {c["_id"]: (c.get("version"), c.get("rules_version")) async for c in found}


async def test_requests_at_the_same_moment_share_one_query(svc: Any, make_resource: Any) -> None:
    ids = [(await make_resource())["id"] for _ in range(4)]
    await svc.store.db.calendars.update_one({"_id": ids[1]}, {"$inc": {"version": 3}})
    stored = await calendars(svc, ids)
    versions = Versions(svc.store)
    asked = [ids[i % 4] for i in range(40)] + ["no-such-resource"]
    got = await asyncio.gather(*(versions.of(rid) for rid in asked))
    assert got == [stored.get(rid, (None, None)) for rid in asked]
    assert len(set(got)) > 1  # the calendars differ: each request got its own
    assert versions.queries == 1


async def test_a_request_never_joins_a_read_under_way(svc: Any, make_resource: Any) -> None:
    rid = (await make_resource())["id"]
    versions = Held(svc.store)
    before = asyncio.create_task(versions.of(rid))
    await versions.answered.wait()  # the first read has its answer, not yet given out
    await svc.store.db.calendars.update_one({"_id": rid}, {"$inc": {"version": 1}})
    after = asyncio.create_task(versions.of(rid))
    await asyncio.sleep(0.05)
    assert not after.done()
    versions.release.set()
    (was, _), (now, _) = await before, await after
    assert now == (was or 0) + 1 and versions.queries == 2


async def test_a_cancelled_request_leaves_the_others_answered(svc: Any, make_resource: Any) -> None:
    rid = (await make_resource())["id"]
    versions = Held(svc.store)
    gone, kept = asyncio.create_task(versions.of(rid)), asyncio.create_task(versions.of(rid))
    await versions.answered.wait()
    gone.cancel()
    versions.release.set()
    assert await kept == (await calendars(svc, [rid]))[rid]
    assert gone.cancelled()
    assert await versions.of(rid) == await kept  # the reader is free for the next read

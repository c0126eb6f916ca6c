"""Passes for registrations made before passes existed: the start-up migration gives each
one still usable a pass, once, even when several replicas start together."""

from __future__ import annotations

import asyncio
from typing import Any

from events import store
from kit import passes


async def test_old_registrations_get_one_pass_each(api: Any, svc: Any) -> None:
    event = await api.event(days=0.02, capacity=1, kind="workshop")
    eid = event["id"]
    confirmed = (await api.register(eid, "old-a", name="Aino")).json()
    waiting = (await api.register(eid, "old-b")).json()
    gone = (await api.register(eid, "old-c")).json()
    cancel = await api.client.post(
        f"/registrations/{gone['id']}/cancel", headers=api.auth("resident", sub="old-c")
    )
    assert cancel.status_code == 200, cancel.text
    regs = svc.store.db[store.REGISTRATIONS]
    ids = [confirmed["id"], waiting["id"], gone["id"]]
    # as written before passes existed: no field at all
    await regs.update_many({"_id": {"$in": ids}}, {"$unset": {"checkin_pass": ""}})
    before = {d["_id"]: d.get("revision", 0) async for d in regs.find({"_id": {"$in": ids}})}

    given = await asyncio.gather(*(store.backfill_passes(svc.store.db) for _ in range(3)))
    assert sum(given) == 2, given  # the confirmed one and the waiting one
    after = {d["_id"]: d async for d in regs.find({"_id": {"$in": ids}})}
    for rid in (confirmed["id"], waiting["id"]):
        code = after[rid]["checkin_pass"]
        assert passes.parse(code, passes.REGISTRATION) == code
        assert after[rid]["revision"] == before[rid] + 1
    assert "checkin_pass" not in after[gone["id"]]
    assert await store.backfill_passes(svc.store.db) == 0

    code = after[confirmed["id"]]["checkin_pass"]
    mine = await api.client.get("/registrations/mine", headers=api.auth("resident", sub="old-a"))
    assert [r["checkin_pass"] for r in mine.json()["items"]] == [code]
    scanned = await api.client.post(
        "/registrations/check-in", json={"code": code}, headers=api.auth()
    )
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["id"] == confirmed["id"] and scanned.json()["attended"] is True

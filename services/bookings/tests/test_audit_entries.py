"""Lifting a block commits its audit entry in its own transaction (a lift tells no other
service: it stages no events), and a lift of no active block is refused with nothing
committed, its entry `refused`. An entry written after its action is made impossible in
the first part (a crash there)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bookings.settings import BookingsSettings
from bookings.testing import Actors
from kit.app import Service
from kit.audit import Pending


def crash_after_commit(svc: Service[BookingsSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    async def crash(entry: Pending, outcome: str, status: int | None) -> None:
        raise RuntimeError(f"crashed before {entry.action}'s entry was written")

    monkeypatch.setattr(svc.audit, "_alone", crash)


async def entry_of(svc: Service[BookingsSettings], cid: str) -> dict[str, Any]:
    [entry] = await svc.audit.collection.find({"correlation_id": cid}).to_list()
    return entry


async def test_a_lift_commits_its_entry_and_a_refused_one_commits_nothing(
    client: httpx.AsyncClient,
    svc: Service[BookingsSettings],
    actors: Actors,
    make_resource: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room = await make_resource()
    day = datetime.now(UTC).date() + timedelta(days=4)
    span = {"starts_at": f"{day}T10:00:00+02:00", "ends_at": f"{day}T12:00:00+02:00"}
    made = await client.post(f"/resources/{room['id']}/blocks", json=span, headers=actors.staff())
    assert made.status_code == 201, made.text
    block_id = made.json()["id"]

    crash_after_commit(svc, monkeypatch)
    cid = f"audit-{uuid.uuid4().hex}"
    lifted = await client.delete(
        f"/blocks/{block_id}", headers={**actors.staff(), "X-Correlation-ID": cid}
    )
    assert lifted.status_code == 204, lifted.text
    entry = await entry_of(svc, cid)
    assert (entry["action"], entry["outcome"]) == ("block.lift", "success")
    assert entry["object"] == {"kind": "block", "id": block_id}
    assert (await svc.store.db.bookings.find_one({"_id": block_id}))["status"] == "lifted"
    monkeypatch.undo()

    # Lifted already: refused inside the transaction, logged as refused, not a success.
    cid = f"audit-{uuid.uuid4().hex}"
    again = await client.delete(
        f"/blocks/{block_id}", headers={**actors.staff(), "X-Correlation-ID": cid}
    )
    assert again.status_code == 404, again.text
    entry = await entry_of(svc, cid)
    assert (entry["outcome"], entry["status"]) == ("refused", 404)
    assert not svc.audit.outside

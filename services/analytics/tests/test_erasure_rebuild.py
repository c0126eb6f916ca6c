"""Erasure (a user's facts stay only as anonymous counts; analytics.erasure.completed is
published through the outbox) and rebuild (drop projections, replay facts, identical
reports), on the real broker and store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import pytest
from analytics_stream import E2, KEY, attend, booking, esf_stream, profile
from conftest import Harness, start_harness, table
from prometheus_client import REGISTRY

from analytics import projections
from analytics.activity import BOOKING, row_name
from contracts import bookings as bk
from contracts import identity as idc
from contracts import topology
from contracts.analytics import ERASURE_COMPLETED
from contracts.pseudonym import participant_key
from kit.testing import TestIssuer, drain, envelope, eventually

VIEWS = [
    *[
        (name, "2026-Q1", scope)
        for name in ("esf", "usage", "utilisation", "network")
        for scope in ("helsinki", "kouvola", "network")
    ],
    ("esf", "2026", "network"),
    ("esf", "2026-Q2", "helsinki"),
]


ANONYMOUS_ROWS = (projections.ATTENDANCE, projections.BOOKINGS)


@pytest.fixture(scope="module")
async def fed(analytics_settings: Callable[..., Any], issuer: TestIssuer) -> AsyncIterator[Harness]:
    h, client = await start_harness(analytics_settings(), issuer)
    try:
        await h.feed(esf_stream())
        yield h
    finally:
        await client.aclose()
        await h.svc.stop()


async def snapshot(h: Harness) -> dict[tuple[str, str, str], Any]:
    return {(n, p, s): await h.report(n, p, scope=s, roles=["analyst"]) for n, p, s in VIEWS}


async def test_rebuild_gives_identical_reports(fed: Harness) -> None:
    before = await snapshot(fed)
    assert table(before[("esf", "2026-Q1", "helsinki")], "summary")["participants"] == 12
    for name in projections.ALL:
        await fed.db[name].drop()
    emptied = await fed.report("esf", "2026-Q1")
    assert table(emptied, "summary")["participants"] == 0  # the projections really went
    denied = await fed.client.post("/analytics/rebuild", headers=fed.headers(roles=["staff"]))
    assert denied.status_code == 403
    other = await fed.client.post(
        "/analytics/rebuild", headers=fed.headers("kouvola", roles=["admin"])
    )
    assert other.status_code == 403
    response = await fed.client.post("/analytics/rebuild", headers=fed.headers(roles=["admin"]))
    assert response.status_code == 200
    assert response.json()["facts_replayed"] == await fed.db.facts.count_documents({})
    assert await snapshot(fed) == before


async def test_projections_do_not_depend_on_fact_order(fed: Harness) -> None:
    """Facts from three queues arrive in any interleaving: replaying them newest first
    must give the same answers as consuming them did."""
    before = await snapshot(fed)
    for name in projections.ALL:
        await fed.db[name].drop()
    async for fact in fed.db.facts.find({}).sort([("at", -1), ("_id", -1)]):
        await projections.project(fed.db, fact, None, "Europe/Helsinki")
    assert await snapshot(fed) == before


async def test_redelivered_event_is_applied_once(fed: Harness) -> None:
    facts_before = await fed.db.facts.count_documents({})
    usage_before = table(await fed.report("usage", "2026-Q1"), "summary")["attendances"]
    again = attend(E2[0], "u3", E2[1], E2[2], 3.0)
    again.data["registration_id"] = "r-again"
    sentinel = attend(E2[0], "u4", E2[1], E2[2], 3.0)
    sentinel.data["registration_id"] = "r-sentinel"
    # The same envelope three times (a redelivery after a lost ack), then another event
    # on the same queue: once that one is stored, the duplicates have been handled.
    await fed.feed([again, again, again, sentinel], facts_expected=2)
    assert await fed.db.facts.count_documents({}) == facts_before + 2
    assert await fed.db.facts.count_documents({"_id": again.id}) == 1
    usage = table(await fed.report("usage", "2026-Q1"), "summary")["attendances"]
    assert usage == usage_before + 2


async def test_erasure_keeps_only_anonymous_counts(fed: Harness, amqp_url: str) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        done = await channel.declare_queue("", exclusive=True)
        await done.bind(
            topology.exchange("analytics"), routing_key=topology.routing_key(ERASURE_COMPLETED)
        )
        key = participant_key("u1", KEY)
        usage_before = await fed.report("usage", "2026-Q1")
        reports_before = [await fed.report(n, "2026-Q1") for n in ("utilisation", "network")]
        anonymous = [await fed.db[n].count_documents({}) for n in ANONYMOUS_ROWS]
        held = await fed.db.facts.count_documents({"participant": key})
        assert held == 6  # 2 profiles, 2 attendances, a booking confirmed and checked in

        erased = envelope(
            idc.USER_ERASED,
            {"user_id": "u1", "requested_at": "2026-06-01T10:00:00Z"},
            correlationid="erasure-of-u1",
        )
        await fed.feed([erased])
        [message] = await drain(done, 1, timeout=20)
        assert message["body"]["type"] == ERASURE_COMPLETED
        assert message["body"]["data"] == {"user_id": "u1", "records_erased": 6}
        assert message["body"]["causationid"] == erased.id
        assert message["body"]["correlationid"] == erased.correlationid

        assert await fed.db.facts.count_documents({"participant": key}) == 0
        stored = await fed.db.facts.find_one({"_id": erased.id})
        assert stored["participant"] is None and stored["data"] == {
            "requested_at": "2026-06-01T10:00:00Z"
        }
        profiles = fed.db.facts.find(
            {"erased": True, "type": "identity.participant.profile_changed"}
        )
        assert [f["data"] async for f in profiles] == [None, None]  # attributes dropped
        # No projection keeps the key, nor a fact anything that names the user.
        for name in projections.ALL:
            assert await fed.db[name].count_documents({"participant": key}) == 0
            assert await fed.db[name].count_documents({"_id": key}) == 0
        # (No fact holds a user id at all: they are replaced by keys on arrival.)
        async for f in fed.db.facts.find({}):
            assert "u1" not in (f.get("data") or {}).values()

        # u1 is no longer an ESF participant; the attendances stay as anonymous counts.
        q1 = await fed.report("esf", "2026-Q1")
        assert table(q1, "summary")["participants"] == 11
        assert table(q1, "gender")["woman"] == 5
        assert await fed.report("usage", "2026-Q1") == usage_before
        assert [await fed.report(n, "2026-Q1") for n in ("utilisation", "network")] == (
            reports_before
        )
        # Their two attendances and their booking are now rows without a person.
        moved = [await fed.db[n].count_documents({}) for n in ANONYMOUS_ROWS]
        assert moved == [anonymous[0] + 2, anonymous[1] + 1]

        # A late fact of the erased user (another queue) is anonymised on arrival.
        late = attend(E2[0], "u1", E2[1], E2[2], 3.0, time="2026-03-05T12:00:00")
        late.data["registration_id"] = "r-late"
        await fed.feed([late])
        stored_late = await fed.db.facts.find_one({"_id": late.id})
        assert stored_late["participant"] is None and stored_late["erased"] is True
        assert table(await fed.report("esf", "2026-Q1"), "summary")["participants"] == 11

        # And a rebuild from the anonymised facts answers the same as before it.
        after = await snapshot(fed)
        response = await fed.client.post("/analytics/rebuild", headers=fed.headers(roles=["admin"]))
        assert response.status_code == 200
        assert await snapshot(fed) == after
    finally:
        await connection.close()


async def test_mentor_erasure_unlinks_bookings_and_resources(fed: Harness) -> None:
    """A mentor's key goes from their office-hour resource, the bookings of it and the
    facts; the projections carry no index on it (they are found through the facts)."""
    key = participant_key("m9", KEY)
    resource = {"resource_id": "MH9", "location_id": "L9", "kind": "mentor_hours",
                "name": {"fi": "MH9"}, "mentor_user_id": "m9"}  # fmt: skip
    stream = [envelope(bk.RESOURCE_CHANGED, resource)]
    for n, user in enumerate(["u2", "u3", "u4"]):
        starts, ends = f"2026-03-0{n + 2}T10:00:00+00:00", f"2026-03-0{n + 2}T11:00:00+00:00"
        for type_ in (bk.BOOKING_CONFIRMED, bk.BOOKING_CHECKED_IN):
            stream.append(booking(type_, f"MB{n}", user, "MH9", "mentor_hours", "L9", starts,
                                  ends, mentor_user_id="m9"))  # fmt: skip
    await fed.feed(stream)
    # The bookings are rows of their bookers' documents (see activity.py).
    assert await _booking_mentors(fed) == [key, key, key]
    assert await fed.db[projections.RESOURCES].count_documents({"mentor": key}) == 1
    assert await fed.db.facts.count_documents({"mentor": key}) == 7
    indexes = await fed.db[projections.BOOKINGS].index_information()
    assert not any(spec["key"][0][0] in {"participant", "mentor"} for spec in indexes.values())
    network_before = await fed.report("network", "2026-Q1", roles=["analyst"])
    usage_before = await fed.report("utilisation", "2026-Q1", roles=["analyst"])

    erasure = envelope(idc.USER_ERASED, {"user_id": "m9", "requested_at": "2026-06-01T10:00:00Z"})
    await fed.feed([erasure])
    for name in projections.ALL:
        assert await fed.db[name].count_documents({"mentor": key}) == 0
    assert await fed.db.facts.count_documents({"mentor": key}) == 0
    # The bookers keep their bookings; the mentoring figures stay, as anonymous counts.
    assert await _booking_mentors(fed) == [None, None, None]
    assert await fed.report("network", "2026-Q1", roles=["analyst"]) == network_before
    assert await fed.report("utilisation", "2026-Q1", roles=["analyst"]) == usage_before

    # Delivered again (a lost ack): the facts say it was applied; it is acked, not redone.
    duplicates = _consumed("duplicate")
    sentinel = profile("u20", "2026-03-01T09:00:00", gender="man")  # after it, same queue
    await fed.feed([erasure, sentinel], facts_expected=1)

    # Counted when its message is acked, which need not come before the sentinel's fact is
    # visible (the two may share a batch, which a duplicate sends back one at a time, or a
    # conflict may send one through the retry queue): once failed under load 37.
    async def counted() -> bool:
        return _consumed("duplicate") >= duplicates + 1

    await eventually(counted, timeout=60)
    assert _consumed("duplicate") == duplicates + 1
    assert await fed.db.facts.count_documents({"_id": erasure.id}) == 1


async def _booking_mentors(h: Harness) -> list[str | None]:
    """The mentor of each booking MB0-MB2 in its booker's document."""
    mentors = []
    for n, user in enumerate(["u2", "u3", "u4"]):
        person = await h.db[projections.PEOPLE].find_one({"_id": participant_key(user, KEY)})
        mentors.append(person["rows"][row_name(BOOKING, f"MB{n}")]["mentor"])
    return mentors


def _consumed(outcome: str) -> float:
    queue = topology.queue("analytics", "identity")
    labels = {"service": "analytics", "queue": queue, "outcome": outcome}
    return REGISTRY.get_sample_value("kohtaamo_messages_consumed_total", labels) or 0.0

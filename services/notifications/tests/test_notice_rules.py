"""Who is told what, and in which words, through the service's own consumers, notifier and
templates on the kit's in-memory fakes (kit.memory): no broker, no store (the fast tier).
The messages are delivered to the handlers the factory registered, as the kit calls them;
the in-app inbox is read through the service's own API. Suppression: a cancellation told by
its cause's own notice (a block) is not told again, a closure tells each owner once, an
erasing contact is told nothing more; templates: the reader's language, with the facts of
the cause. The same path on the real broker and store: test_booking_notices.py,
test_fanout.py, test_registration_notices.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from contracts import CloudEvent
from contracts import bookings as bc
from contracts import events as ec
from contracts import identity as idc
from contracts import notifications as nc
from kit.app import Service
from kit.events import new_event
from kit.memory import Memory, use_memory
from kit.testing import TestIssuer
from notifications.main import service
from notifications.settings import NotificationsSettings

STARTS = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)


def event(producer: str, type_: str, data: BaseModel, subject: str) -> CloudEvent:
    return new_event(
        service=producer, type_=type_, data=data, municipality="helsinki", subject=subject
    )


def booking(booking_id: str, user_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "booking_id": booking_id,
        "resource_id": "room-1",
        "resource_kind": "meeting_room",
        "resource_name": {"fi": "Neuvotteluhuone", "en": "Meeting room"},
        "location_id": "loc-1",
        "user_id": user_id,
        "starts_at": STARTS,
        "ends_at": STARTS + timedelta(hours=1),
        **extra,
    }


class Site:
    def __init__(self, svc: Service, memory: Memory, client: httpx.AsyncClient) -> None:
        self.svc = svc
        self.memory = memory
        self.client = client
        self.issuer = TestIssuer()
        svc.verifier.trust(self.issuer.issuer, self.issuer.jwks)

    async def deliver(self, producer: str, message: CloudEvent) -> None:
        [consumer] = [c for c in self.svc.consumers if c.purpose == producer]
        await self.memory.deliver(consumer.handler, message)

    async def person(self, user_id: str, language: str = "fi", **contact: Any) -> None:
        changed = idc.ContactChanged(
            user_id=user_id,
            display_name=f"Person {user_id}",
            email=f"{user_id}@example.org",
            language=language,
            channels={"*": [idc.Channel.inapp]},
            **contact,
        )
        await self.deliver("identity", event("identity", idc.CONTACT_CHANGED, changed, user_id))

    async def book(self, type_: str, model: type[bc.BookingFacts], **facts: Any) -> None:
        data = model.model_validate(booking(**facts))
        await self.deliver("bookings", event("bookings", type_, data, facts["booking_id"]))

    async def notices(self, user_id: str) -> list[dict[str, Any]]:
        return await self.memory.db.notices.find({"user_id": user_id}, sort="created").to_list()

    async def inbox(self, user_id: str, lang: str | None = None) -> list[dict[str, Any]]:
        headers = self.issuer.headers(sub=user_id, roles=["resident"], municipality="helsinki")
        params = {"lang": lang} if lang else {}
        answer = await self.client.get("/notifications/inbox", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    svc = service(NotificationsSettings())
    memory = use_memory(svc)
    app = svc.create_app()  # not started: nothing connects, no sender loop
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as client:
        yield Site(svc, memory, client)


async def test_a_confirmed_booking_is_told_in_the_readers_language(site: Site) -> None:
    await site.person("u-fi", "fi")
    await site.person("u-en", "en")
    await site.book(bc.BOOKING_CONFIRMED, bc.BookingConfirmed, booking_id="b-fi", user_id="u-fi")
    await site.book(bc.BOOKING_CONFIRMED, bc.BookingConfirmed, booking_id="b-en", user_id="u-en")
    [fi] = await site.inbox("u-fi")
    [en] = await site.inbox("u-en")
    assert fi["kind"] == en["kind"] == "booking_confirmed"
    assert "Neuvotteluhuone" in fi["text"] + fi["subject"]
    assert "Meeting room" in en["text"] + en["subject"]
    assert fi["subject"] != en["subject"]  # each in its reader's language
    [again_in_english] = await site.inbox("u-fi", lang="en")
    assert again_in_english["subject"] == en["subject"]  # rendered when read
    # In-app notices are delivered by being stored, announced once each.
    assert len(site.memory.published(nc.NOTICE_SENT)) == 2
    # The booking's reminder is scheduled with it.
    assert (
        await site.memory.db.reminders.count_documents(
            {"_id": "booking:b-fi", "status": "scheduled"}
        )
        == 1
    )


async def test_a_block_tells_each_owner_once_and_no_cancellation_again(site: Site) -> None:
    for user in ("u-1", "u-2", "u-3"):
        await site.person(user)
    owners = {"b-1": "u-1", "b-2": "u-1", "b-3": "u-2", "b-4": "u-3"}
    for booking_id, user in owners.items():
        await site.book(
            bc.BOOKING_CONFIRMED, bc.BookingConfirmed, booking_id=booking_id, user_id=user
        )
    blocked = bc.ResourceBlocked(
        resource_id="room-1",
        resource_name={"fi": "Neuvotteluhuone"},
        starts_at=STARTS,
        ends_at=STARTS + timedelta(hours=4),
        cancelled_booking_ids=["b-1", "b-2", "b-3"],
    )
    await site.deliver("bookings", event("bookings", bc.RESOURCE_BLOCKED, blocked, "room-1"))
    for booking_id in ("b-1", "b-2"):  # bookings' own cancellations of the block
        await site.book(
            bc.BOOKING_CANCELLED,
            bc.BookingCancelled,
            booking_id=booking_id,
            user_id="u-1",
            cancelled_by="resource_blocked",
        )
    await site.book(  # the staff's word for b-3, after the block had told its owner
        bc.BOOKING_CANCELLED, bc.BookingCancelled, booking_id="b-3", user_id="u-2",
        cancelled_by="staff",
    )  # fmt: skip
    await site.book(  # a cancellation of its own: told
        bc.BOOKING_CANCELLED, bc.BookingCancelled, booking_id="b-4", user_id="u-3"
    )
    kinds = {user: [n["kind"] for n in await site.notices(user)] for user in ("u-1", "u-2", "u-3")}
    assert kinds == {
        "u-1": ["booking_confirmed", "booking_confirmed", "resource_blocked"],
        "u-2": ["booking_confirmed", "resource_blocked"],
        "u-3": ["booking_confirmed", "booking_cancelled"],
    }
    # Every cancelled booking's reminder is called off.
    scheduled = await site.memory.db.reminders.find({"status": "scheduled"}).to_list()
    assert scheduled == []


async def test_registrants_of_a_cancelled_event_are_told_once(site: Site) -> None:
    for user in ("r-1", "r-2"):
        await site.person(user)
    facts = {
        "event_id": "ev-1",
        "kind": "workshop",
        "title": {"fi": "Työpaja"},
        "starts_at": STARTS,
        "ends_at": STARTS + timedelta(hours=2),
    }
    for n, user in enumerate(("r-1", "r-2")):
        confirmed = ec.RegistrationConfirmed.model_validate(
            {**facts, "registration_id": f"reg-{n}", "user_id": user, "seats": 1}
        )
        await site.deliver(
            "events", event("events", ec.REGISTRATION_CONFIRMED, confirmed, f"reg-{n}")
        )
    cancelled = ec.EventCancelled(
        event_id="ev-1", title={"fi": "Työpaja"}, starts_at=STARTS, reason="ill"
    )
    await site.deliver("events", event("events", ec.EVENT_CANCELLED, cancelled, "ev-1"))
    # The events service also cancels each registration, saying why: nobody hears twice.
    gone = ec.RegistrationCancelled.model_validate(
        {**facts, "registration_id": "reg-0", "user_id": "r-1", "seats": 1,
         "cancelled_by": "event_cancelled"}
    )  # fmt: skip
    await site.deliver("events", event("events", ec.REGISTRATION_CANCELLED, gone, "reg-0"))
    for user in ("r-1", "r-2"):
        kinds = [n["kind"] for n in await site.notices(user)]
        assert kinds == ["registration_confirmed", "event_cancelled"], (user, kinds)


async def test_an_erasing_contact_is_told_nothing_more(site: Site) -> None:
    await site.person("e-1")
    erased = idc.UserErased(user_id="e-1", requested_at=datetime.now(UTC))
    await site.deliver("identity", event("identity", idc.USER_ERASED, erased, "e-1"))
    await site.book(bc.BOOKING_CONFIRMED, bc.BookingConfirmed, booking_id="b-e", user_id="e-1")
    kinds = [n["kind"] for n in await site.notices("e-1")]
    assert "booking_confirmed" not in kinds

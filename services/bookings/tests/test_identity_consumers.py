"""Identity's events arrive over the real broker: erasure anonymises a user's bookings and
answers bookings.erasure.completed; a withdrawn mentor offer closes the mentor's office
hours, cancels future bookings and tells the people (booking.cancelled)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx

from bookings.main import service
from bookings.settings import BookingsSettings
from bookings.testing import Actors, EventLog, at, future_day
from contracts import identity as idc
from contracts import topology
from kit.app import Service
from kit.testing import TestIssuer, dead_letters, envelope, eventually, forgeries, publish_raw

MENTOR_HOURS = {"weekly": {str(d): [{"opens": "14:00", "closes": "16:00"}] for d in range(7)}}


async def publish(
    amqp_url: str, type_: str, data: dict[str, Any], municipality: str = "helsinki"
) -> str:
    event = envelope(type_, data, municipality=municipality)
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.exchange("identity"))
        await exchange.publish(
            aio_pika.Message(
                event.model_dump_json().encode(),
                message_id=event.id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=event.routing_key,
            mandatory=True,
        )
        # the same event again: the inbox applies it once
        await exchange.publish(
            aio_pika.Message(event.model_dump_json().encode(), message_id=event.id),
            routing_key=event.routing_key,
            mandatory=True,
        )
    finally:
        await connection.close()
    return event.id


async def test_erased_user_bookings_are_anonymised(
    client: httpx.AsyncClient,
    actors: Actors,
    svc: Service,
    events: EventLog,
    make_resource: Any,
    amqp_url: str,
    book: Any,
) -> None:
    room = await make_resource()
    day = future_day(6)
    user = actors.user("to-be-erased")
    made = await book(user, room, at(day, "10:00"), at(day, "11:00"), purpose="job interview")
    assert made.status_code == 201
    await client.post("/me/feed", headers=user)
    await publish(
        amqp_url,
        idc.USER_ERASED,
        {"user_id": "to-be-erased", "requested_at": datetime.now(UTC).isoformat()},
    )
    [done] = await events.find("erasure.completed", "user/to-be-erased")
    assert done["data"]["records_erased"] == 2  # the booking and the feed
    doc = await svc.store.db.bookings.find_one({"_id": made.json()["id"]})
    assert doc is not None and doc["user_id"] == "erased" and doc["purpose"] is None
    assert await svc.store.db.feeds.count_documents({"user_id": "to-be-erased"}) == 0
    # the time stays held: anonymising is not cancelling
    again = await book(actors.user(), room, at(day, "10:00"), at(day, "11:00"))
    assert again.status_code == 409


async def test_erasure_is_by_the_person_not_the_resources_municipality(
    actors: Actors,
    svc: Service,
    events: EventLog,
    make_resource: Any,
    amqp_url: str,
    book: Any,
) -> None:
    """A Kouvola resident's booking of a Helsinki room is theirs: erased with them."""
    # A Helsinki room open to Kouvola's residents too.
    room = await make_resource({"allowed_municipalities": ["kouvola"]})
    day = future_day(7)
    visitor = actors.user("kouvola-visitor", municipality="kouvola")
    made = await book(visitor, room, at(day, "10:00"), at(day, "11:00"), purpose="Kouvolasta")
    assert made.status_code == 201, made.text
    requested = datetime.now(UTC).isoformat()
    await publish(
        amqp_url,
        idc.USER_ERASED,
        {"user_id": "kouvola-visitor", "requested_at": requested},
        municipality="kouvola",
    )
    [done] = await events.find("erasure.completed", "user/kouvola-visitor")
    assert done["municipality"] == "kouvola" and done["data"]["records_erased"] == 1
    doc = await svc.store.db.bookings.find_one({"_id": made.json()["id"]})
    assert doc is not None and doc["user_id"] == "erased" and doc["purpose"] is None


async def test_withdrawn_mentor_offer_closes_office_hours(
    client: httpx.AsyncClient,
    actors: Actors,
    svc: Service,
    events: EventLog,
    make_location: Any,
    amqp_url: str,
    book: Any,
) -> None:
    location = await make_location()
    mentor = actors.user("mentor-42", roles=["mentor"])
    created = await client.post(
        "/resources",
        headers=mentor,
        json={
            "location_id": location["id"],
            "kind": "mentor_hours",
            "mentor_user_id": "mentor-42",
            "name": {"fi": "Yrittäjyysneuvonta"},
            "hours": MENTOR_HOURS,
            "rules": {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 60},
        },
    )
    assert created.status_code == 201, created.text
    hours = created.json()
    # a mentor cannot open office hours for someone else
    other = await client.post(
        "/resources",
        headers=mentor,
        json={
            "location_id": location["id"],
            "kind": "mentor_hours",
            "mentor_user_id": "mentor-43",
            "name": {"fi": "x"},
        },
    )
    assert other.status_code == 403
    day = future_day(3)
    outside = await book(actors.user(), hours, at(day, "10:00"), at(day, "10:30"))
    assert outside.status_code == 422  # the mentor's own hours, not the library's
    booked = await book(actors.user("mentee"), hours, at(day, "14:00"), at(day, "14:30"))
    assert booked.status_code == 201
    booking_id = booked.json()["id"]
    window = {"from": day.isoformat(), "to": day.isoformat()}
    seen = await client.get(f"/resources/{hours['id']}/bookings", headers=mentor, params=window)
    [only] = seen.json()["items"]
    assert only["id"] == booking_id and only["access_code"] is None and seen.json()["total"] == 1
    assert (
        await client.get(
            f"/resources/{hours['id']}/bookings",
            params=window,
            headers=actors.user("mentor-43", roles=["mentor"]),
        )
    ).status_code == 403

    await publish(amqp_url, idc.MENTOR_OFFER_CHANGED, {"user_id": "mentor-42", "active": False})
    [closed] = await events.find("mentor_hours.closed", f"resource/{hours['id']}")
    assert closed["data"]["cancelled_booking_ids"] == [booking_id]
    [cancelled] = await events.find("booking.cancelled", f"booking/{booking_id}")
    assert cancelled["data"]["user_id"] == "mentee"
    assert cancelled["data"]["mentor_user_id"] == "mentor-42"

    async def inactive() -> bool:
        doc = await svc.store.db.resources.find_one({"_id": hours["id"]})
        return doc is not None and doc["active"] is False

    await eventually(inactive)
    late = await book(actors.user(), hours, at(day, "15:00"), at(day, "15:30"))
    assert late.status_code == 409


async def test_forged_erasures_are_dead_lettered_and_change_nothing(
    client: httpx.AsyncClient,
    actors: Actors,
    svc: Service,
    events: EventLog,
    make_resource: Any,
    amqp_url: str,
    book: Any,
) -> None:
    """Forged `identity.user.erased` for a user with a booking (issue 19): unsigned, an
    unknown key, a partner site for another municipality, a valid signature over altered
    data, a type the signer may not publish, a future time. Each is dead-lettered with its
    reason; the booking and the feed are as before; a genuine erasure after them applies."""
    room = await make_resource()
    day = future_day(7)
    victim = actors.user("forged-victim")
    made = await book(victim, room, at(day, "12:00"), at(day, "13:00"), purpose="interview")
    assert made.status_code == 201
    assert (await client.post("/me/feed", headers=victim)).status_code in (200, 201)
    erase = {"user_id": "forged-victim", "requested_at": datetime.now(UTC).isoformat()}
    forged = forgeries(idc.USER_ERASED, erase, {"user_id": "someone-else"})
    genuine = envelope(idc.USER_ERASED, {**erase, "user_id": "genuine-after"})
    await publish_raw(
        amqp_url,
        topology.exchange("identity"),
        genuine.routing_key,
        *(doc for _, _, doc in forged.values()),
        genuine.model_dump(mode="json"),
    )
    await events.find("erasure.completed", "user/genuine-after")  # the consumer went on
    letters = await dead_letters(
        amqp_url, "kohtaamo.bookings.identity-users", {doc["id"] for _, _, doc in forged.values()}
    )
    got = {name: letters[doc["id"]][0] for name, (_, _, doc) in forged.items()}
    assert got == {name: reason for name, (reason, _, _) in forged.items()}
    for name, (_, error, doc) in forged.items():
        assert error in letters[doc["id"]][1], name
    booking = await svc.store.db.bookings.find_one({"_id": made.json()["id"]})
    assert booking is not None and booking["user_id"] == "forged-victim"
    assert booking["purpose"] == "interview" and booking["booked_by"] != "erased"
    assert await svc.store.db.feeds.count_documents({"user_id": "forged-victim"}) == 1
    assert not events.matching("erasure.completed", "user/forged-victim")


async def test_a_site_not_serving_the_person_erases_their_bookings_without_answering(
    make_settings: Any, make_vhost: Any, actors: Actors, issuer: TestIssuer
) -> None:
    """Separate sites: Helsinki's bookings (serving only helsinki) holds a Kouvola
    resident's booking of a Helsinki room opened to Kouvola. The erasure, published for
    `kouvola`, anonymises it there too; only the site serving Kouvola answers identity, so
    Helsinki's empty-handed answer can never mark an erasure complete early."""
    site = make_vhost("xsite-bookings", "function")  # Helsinki's broker
    helsinki = service(
        make_settings(
            "bookings",
            cls=BookingsSettings,
            amqp_url=site,
            municipalities=["helsinki"],
            # As in deploy/k8s/overlays/helsinki: the site's identity serves Kouvola too.
            site_municipalities=["helsinki", "kouvola"],
            no_show_sweep_s=3600.0,
        )
    )
    helsinki.verifier.trust(issuer.issuer, issuer.jwks)
    app = helsinki.create_app()
    await helsinki.start()
    answers = EventLog()
    connection = await aio_pika.connect_robust(site)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://helsinki") as api:
            staff = actors.staff("helsinki")
            hours = {str(d): [{"opens": "08:00", "closes": "20:00"}] for d in range(7)}
            location = await api.post(
                "/locations",
                headers=staff,
                json={"name": {"fi": "Kirjasto"}, "kind": "branch", "hours": {"weekly": hours}},
            )
            assert location.status_code == 201, location.text
            room = await api.post(
                "/resources",
                headers=staff,
                json={
                    "location_id": location.json()["id"],
                    "kind": "meeting_room",
                    "name": {"fi": "Huone"},
                    "capacity": 4,
                    "rules": {"allowed_municipalities": ["kouvola"]},
                },
            )
            assert room.status_code == 201, room.text
            day = future_day(8)
            made = await api.post(
                "/bookings",
                headers=actors.user("kouvola-away", municipality="kouvola"),
                json={
                    "resource_id": room.json()["id"],
                    "starts_at": at(day, "12:00"),
                    "ends_at": at(day, "13:00"),
                    "purpose": "Kouvolasta",
                },
            )
            assert made.status_code == 201, made.text
        channel = await connection.channel()
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(topology.exchange("bookings"), routing_key="bookings.#")
        await queue.consume(answers.on_message)
        requested = datetime.now(UTC).isoformat()
        await publish(
            site,
            idc.USER_ERASED,
            {"user_id": "kouvola-away", "requested_at": requested},
            municipality="kouvola",
        )
        # Then a Helsinki resident's erasure: its answer comes after any answer the first
        # would have had (one outbox, in order).
        await publish(
            site, idc.USER_ERASED, {"user_id": "helsinki-after", "requested_at": requested}
        )

        async def anonymised() -> bool:
            doc = await helsinki.store.db.bookings.find_one({"_id": made.json()["id"]})
            return doc is not None and doc["user_id"] == "erased" and doc["purpose"] is None

        await eventually(anonymised)
        [after] = await answers.find("erasure.completed", "user/helsinki-after")
        assert after["municipality"] == "helsinki"
        assert answers.matching("erasure.completed", "user/kouvola-away") == []
    finally:
        await connection.close()
        await helsinki.stop()

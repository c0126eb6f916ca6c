"""Registration and event triggers with a real SMTP server, in fi, sv and en."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import events as ec

from .conftest import add_contact, calendar_of, entry_of, mails_for, publish, settle, text_of

STARTS = datetime(2030, 5, 6, 14, 30, tzinfo=UTC)


def registration(user_id: str, event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "registration_id": f"r-{uuid.uuid4().hex[:8]}",
        "event_id": event_id,
        "user_id": user_id,
        "kind": "workshop",
        "title": {"fi": "Podcast-paja", "sv": "Podcastverkstad", "en": "Podcast workshop"},
        "venue_name": {
            "fi": "Kallion kirjasto",
            "sv": "Berghälls bibliotek",
            "en": "Kallio Library",
        },
        "starts_at": STARTS.isoformat(),
        "ends_at": (STARTS + timedelta(hours=2)).isoformat(),
        **extra,
    }


EXPECTED = {
    "fi": {
        ec.REGISTRATION_CONFIRMED: "Ilmoittautuminen vahvistettu: Podcast-paja",
        ec.REGISTRATION_WAITLISTED: "Olet jonossa: Podcast-paja",
        ec.REGISTRATION_PROMOTED: "Sait paikan: Podcast-paja",
        ec.REGISTRATION_CANCELLED: "Ilmoittautuminen peruttu: Podcast-paja",
        "changed": "Tapahtuma muuttunut: Podcast-paja",
        "when": "6.5.2030 klo 17.30",
    },
    "sv": {
        ec.REGISTRATION_CONFIRMED: "Anmälan bekräftad: Podcastverkstad",
        ec.REGISTRATION_WAITLISTED: "Du står i kö: Podcastverkstad",
        ec.REGISTRATION_PROMOTED: "Du har fått en plats: Podcastverkstad",
        ec.REGISTRATION_CANCELLED: "Anmälan avbokad: Podcastverkstad",
        "changed": "Evenemanget har ändrats: Podcastverkstad",
        "when": "6.5.2030 kl. 17:30",
    },
    "en": {
        ec.REGISTRATION_CONFIRMED: "Registration confirmed: Podcast workshop",
        ec.REGISTRATION_WAITLISTED: "You are on the waiting list: Podcast workshop",
        ec.REGISTRATION_PROMOTED: "You got a seat: Podcast workshop",
        ec.REGISTRATION_CANCELLED: "Registration cancelled: Podcast workshop",
        "changed": "Event changed: Podcast workshop",
        "when": "6 May 2030 at 17:30",
    },
}


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
async def test_registration_lifecycle_in_each_language(
    started: Any, mailbox: Any, language: str
) -> None:
    svc = await started()
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user, language=language)
    event_id = f"e-{uuid.uuid4().hex[:6]}"
    reg = registration(user, event_id)
    expected = EXPECTED[language]
    steps = [
        (ec.REGISTRATION_WAITLISTED, {**reg, "position": 3}),
        (ec.REGISTRATION_PROMOTED, reg),
        (ec.REGISTRATION_CANCELLED, reg),
    ]
    for i, (type_, data) in enumerate(steps, start=1):
        await publish(svc, type_, data)
        mails = await mails_for(box, address, i)
        assert mails[-1]["Subject"] == expected[type_]
        assert expected["when"] in text_of(mails[-1])
    waitlisted, promoted, cancelled = box.to(address)
    assert "3" in text_of(waitlisted)
    assert calendar_of(waitlisted) is None
    # The seat went into the calendar; its cancellation takes the same entry out.
    method, _, seat = entry_of(promoted)
    assert method == "PUBLISH" and seat["UID"] == f"{reg['registration_id']}@kohtaamo.fi"
    method, cal, gone = entry_of(cancelled)
    assert method == "CANCEL" and cal["METHOD"] == "CANCEL"
    assert gone["UID"] == seat["UID"] and int(gone["SEQUENCE"]) > int(seat["SEQUENCE"])

    # Confirmed (a fresh registration): calendar attached; the event then moves.
    second = registration(user, event_id)
    await publish(svc, ec.REGISTRATION_CONFIRMED, second)
    mails = await mails_for(box, address, 4)
    assert mails[-1]["Subject"] == expected[ec.REGISTRATION_CONFIRMED]
    assert f"UID:{second['registration_id']}@kohtaamo.fi" in (calendar_of(mails[-1]) or "")
    moved = STARTS + timedelta(days=1)
    await publish(
        svc,
        ec.EVENT_CHANGED,
        {
            "event_id": event_id,
            "kind": "workshop",
            "title": second["title"],
            "starts_at": moved.isoformat(),
            "ends_at": (moved + timedelta(hours=2)).isoformat(),
            "changed_fields": ["starts_at", "ends_at"],
        },
    )
    mails = await mails_for(box, address, 5)
    assert mails[-1]["Subject"] == expected["changed"]
    assert "7.5.2030" in text_of(mails[-1]) or "7 May 2030" in text_of(mails[-1])
    reminder = await svc.store.db.reminders.find_one(
        {"_id": f"registration:{second['registration_id']}"}
    )
    assert reminder is not None and reminder["starts_at"] == moved


async def test_event_cancelled_tells_every_registrant_once(started: Any, mailbox: Any) -> None:
    svc = await started()
    box, _ = mailbox
    event_id = f"e-{uuid.uuid4().hex[:6]}"
    users = {lang: f"u-{lang}-{uuid.uuid4().hex[:6]}" for lang in ("fi", "sv", "en")}
    addresses = {}
    for lang, user in users.items():
        addresses[lang] = await add_contact(svc, user, language=lang)
        await publish(svc, ec.REGISTRATION_CONFIRMED, registration(user, event_id))
        await mails_for(box, addresses[lang])
    # One of them is cancelled by the events service before the event's cancellation.
    first = await svc.store.db.registrations.find_one({"user_id": users["fi"]})
    assert first is not None
    await publish(
        svc,
        ec.REGISTRATION_CANCELLED,
        registration(
            users["fi"], event_id, registration_id=first["_id"], cancelled_by="event_cancelled"
        ),
    )
    await publish(
        svc,
        ec.EVENT_CANCELLED,
        {
            "event_id": event_id,
            "title": registration("x", event_id)["title"],
            "starts_at": STARTS.isoformat(),
            "reason": "Flu",
        },
    )
    subjects = {
        "fi": "Tapahtuma peruttu: Podcast-paja",
        "sv": "Evenemanget inställt: Podcastverkstad",
        "en": "Event cancelled: Podcast workshop",
    }
    for lang, address in addresses.items():
        mails = await mails_for(box, address, 2)
        assert mails[-1]["Subject"] == subjects[lang]
        # the confirmed entry leaves the calendar: METHOD:CANCEL for the same UID at a
        # higher SEQUENCE (parsed with icalendar)
        _, _, booked = entry_of(mails[0])
        method, cal, gone = entry_of(mails[-1])
        assert method == "CANCEL" and cal["METHOD"] == "CANCEL"
        assert gone["STATUS"] == "CANCELLED"
        mine = await svc.store.db.registrations.find_one({"user_id": users[lang]})
        assert mine is not None
        assert gone["UID"] == booked["UID"] == f"{mine['_id']}@kohtaamo.fi"
        assert int(gone["SEQUENCE"]) > int(booked["SEQUENCE"])
    await settle(1.0)
    for address in addresses.values():
        assert len(box.to(address)) == 2  # confirmation + cancellation, nothing more
    scheduled = await svc.store.db.reminders.count_documents(
        {"event_id": event_id, "status": "scheduled"}
    )
    assert scheduled == 0
